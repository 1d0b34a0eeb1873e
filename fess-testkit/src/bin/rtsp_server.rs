//! A local RTSP camera for tests: serves a video file as H.264 at rtsp://127.0.0.1:PORT/cam,
//! in real time, until killed.
//!
//!   fess-test-rtsp-server PORT FILE

use gst::glib;
use gst_rtsp_server::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(port), Some(file)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: fess-test-rtsp-server PORT FILE");
        std::process::exit(2);
    };
    gst::init().expect("GStreamer initialises");
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(port);
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(&format!(
        "( filesrc location=\"{file}\" ! decodebin ! videoconvert ! \
         openh264enc ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    ));
    // One stream for every client, like a camera.
    factory.set_shared(true);
    server
        .mount_points()
        .expect("a new server has mount points")
        .add_factory("/cam", factory);
    let main_loop = glib::MainLoop::new(None, false);
    server.attach(None).expect("the RTSP port is free");
    println!("rtsp://127.0.0.1:{port}/cam");
    main_loop.run();
}
