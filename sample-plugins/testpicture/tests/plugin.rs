//! The test picture webcam in a real host (plinth-testkit).

use plinth_testkit::{json, methods, TestHost};

#[test]
fn its_webcam_takes_jpeg_snapshots_of_the_configured_size() {
    let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
    let pm = host.manager();
    let webcams = pm
        .call::<methods::GetWebcamConfigurations>(host.id(), &())
        .unwrap();
    assert_eq!(webcams.len(), 1);
    assert_eq!(webcams[0].name, "testpicture");
    host.set_setting(&["width"], json!(320)).unwrap();
    host.set_setting(&["height"], json!(200)).unwrap();
    let jpeg = pm
        .call::<methods::TakeWebcamSnapshot>(host.id(), &"testpicture".to_owned())
        .unwrap();
    assert_eq!(&jpeg[..2], &[0xff, 0xd8], "a JPEG");
    let mut decoder =
        zune_jpeg::JpegDecoder::new(zune_jpeg::zune_core::bytestream::ZCursor::new(&jpeg));
    decoder.decode_headers().unwrap();
    assert_eq!(decoder.dimensions(), Some((320, 200)));
}
