//! How values cross the boundary: every call is a number plus encoded bytes.
//!
//! Arguments and results are JSON, except where a method moves raw bytes
//! (webcam snapshots). "Nothing" (`()`) is the empty byte string, so a call
//! without arguments or result allocates nothing.

use std::any::{Any, TypeId};
use std::marker::PhantomData;

use serde::{de::DeserializeOwned, Serialize};

/// Encodes and decodes one type for the wire.
pub trait Codec<T> {
    /// The bytes of `value`.
    fn encode(value: &T) -> Result<Vec<u8>, String>;
    /// The value of `bytes`; the error says what is wrong.
    fn decode(bytes: &[u8]) -> Result<T, String>;
}

/// JSON, with `()` as the empty byte string.
pub struct Json<T>(PhantomData<T>);

impl<T: Serialize + DeserializeOwned + 'static> Codec<T> for Json<T> {
    #[inline]
    fn encode(value: &T) -> Result<Vec<u8>, String> {
        if TypeId::of::<T>() == TypeId::of::<()>() {
            return Ok(Vec::new());
        }
        serde_json::to_vec(value).map_err(|e| format!("cannot encode: {e}"))
    }

    #[inline]
    fn decode(bytes: &[u8]) -> Result<T, String> {
        if bytes.is_empty() {
            // `()` from nothing, without parsing: the common case of calls without arguments.
            let mut slot: Option<T> = None;
            if let Some(unit) = (&mut slot as &mut dyn Any).downcast_mut::<Option<()>>() {
                *unit = Some(());
            }
            if let Some(value) = slot {
                return Ok(value);
            }
        }
        let bytes = if bytes.is_empty() { b"null" } else { bytes };
        serde_json::from_slice(bytes).map_err(|e| format!("cannot decode: {e}"))
    }
}

/// Raw bytes, unchanged.
pub struct Raw;

impl Codec<Vec<u8>> for Raw {
    fn encode(value: &Vec<u8>) -> Result<Vec<u8>, String> {
        Ok(value.clone())
    }
    fn decode(bytes: &[u8]) -> Result<Vec<u8>, String> {
        Ok(bytes.to_vec())
    }
}

/// One callable thing across the boundary: a plugin method or a host service.
pub trait Method {
    /// The number that identifies it; never reused.
    const ID: u32;
    /// Its name, for error messages.
    const NAME: &'static str;
    /// The ABI minor that introduced it.
    const SINCE: u32;
    /// What it takes.
    type Args;
    /// How its arguments are encoded.
    type ArgsCodec: Codec<Self::Args>;
    /// What it returns.
    type Output;
    /// How its result is encoded.
    type OutputCodec: Codec<Self::Output>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_is_the_empty_byte_string_both_ways() {
        assert!(Json::<()>::encode(&()).unwrap().is_empty());
        Json::<()>::decode(b"").unwrap();
        assert_eq!(Json::<Option<i64>>::decode(b"").unwrap(), None);
        assert_eq!(
            Json::<(String, u16)>::decode(br#"["h",5]"#).unwrap(),
            ("h".to_owned(), 5)
        );
        assert!(Json::<u16>::decode(b"")
            .unwrap_err()
            .contains("cannot decode"));
    }
}
