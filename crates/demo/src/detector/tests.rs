use std::io::{Read, Write};
use std::net::TcpStream;

use super::*;

fn agent(name: &str, latency: f64) -> ProfileAgent {
    ProfileAgent::start(name, latency, 0).unwrap_or_else(|e| panic!("{e}"))
}

fn detector(endpoint: String, ramp: &str) -> Detector {
    let ramp = Ramp::parse(ramp).unwrap_or_else(|e| panic!("{e}"));
    Detector::start(EndpointSource::Fixed(endpoint), ramp, 0).unwrap_or_else(|e| panic!("{e}"))
}

/// The value of the unlabelled sample `name` on the detector's `/metrics`, over HTTP.
fn scraped(d: &Detector, name: &str) -> Option<f64> {
    let mut stream = TcpStream::connect(("127.0.0.1", d.port)).unwrap_or_else(|e| panic!("{e}"));
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap_or_else(|e| panic!("{e}"));
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap_or_else(|e| panic!("{e}"));
    page.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_detector_follows_its_agent() {
    let (pi, jetson) = (agent("raspberrypi", 0.08), agent("jetson-agx-orin", 0.025));
    let on_pi = detector(pi.endpoint(), "0:4");
    let on_jetson = detector(jetson.endpoint(), "0:4");
    std::thread::sleep(Duration::from_millis(700));
    let (p, j) = (on_pi.figures(), on_jetson.figures());
    assert_eq!(p.agent.as_deref(), Some("raspberrypi"));
    assert!((0.29..0.35).contains(&p.latency) && p.fps < 4.0, "Pi at load 4: {p:?}");
    assert!(j.latency < 0.03 && j.fps >= 29.0, "Jetson: {j:?}");
}

#[test]
fn the_pi_load_is_exported_whichever_agent_runs_inference() {
    let (pi, jetson) = (agent("raspberrypi", 0.075), agent("jetson-agx-orin", 0.025));
    // Load 1 for 0.2s, then 4 for good: the ramp's last point holds.
    let ramp = "0:1,0.2:4";
    let on_pi = detector(pi.endpoint(), ramp);
    let on_jetson = detector(jetson.endpoint(), ramp);
    let on_nothing = detector("tcp://127.0.0.1:1".into(), ramp);
    std::thread::sleep(Duration::from_millis(1500));
    for (where_, d) in [("Pi", &on_pi), ("Jetson", &on_jetson), ("no agent", &on_nothing)] {
        let load =
            scraped(d, PI_LOAD_METRIC).unwrap_or_else(|| panic!("no {PI_LOAD_METRIC} with inference on {where_}"));
        assert!((3.85..=4.15).contains(&load), "{PI_LOAD_METRIC} {load} with inference on {where_}");
        let seen = d.figures().pi_load;
        assert!(seen.is_some_and(|l| (3.85..=4.15).contains(&l)), "figures {seen:?} with inference on {where_}");
    }
    // Only the frame rate tells where inference runs: the Pi stays slow, the Jetson real time.
    let (p, j) = (scraped(&on_pi, "detector_fps"), scraped(&on_jetson, "detector_fps"));
    assert!(p.is_some_and(|fps| fps < 4.0) && j.is_some_and(|fps| fps >= 29.0), "fps Pi {p:?}, Jetson {j:?}");
    assert_eq!(scraped(&on_nothing, "detector_fps"), Some(0.0));
}
