// The ABI's type layouts carry the name of the package that defines them,
// and abi_stable refuses a library whose layouts name another package. Every
// plugin built since ABI 1.0 has layouts from the package `plinth-sdk`, where
// these types were first defined; this crate keeps that identity.
fn main() {
    println!("cargo:rustc-env=CARGO_PKG_NAME=plinth-sdk");
}
