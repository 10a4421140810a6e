//! The scene's timeline as an SVG line chart.

use std::path::{Path, PathBuf};

use super::{Report, Sample};

/// The timeline as an SVG line chart: fps and the Pi's load over time, spans on the Jetson
/// shaded, events (switches, failed trials) marked.
pub fn svg(r: &Report) -> String {
    let (w, h, left, top) = (900.0, 320.0, 50.0, 20.0);
    let end = r.samples.last().map_or(1.0, |s| s.t).max(1.0);
    let x = |t: f64| left + (w - left - 20.0) * t / end;
    let y = |fps: f64| top + (h - top - 40.0) * (1.0 - fps.min(32.0) / 32.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for s in r.samples.windows(2) {
        if s[0].agent.contains("jetson") {
            out.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#dbeafe\"/>\n",
                x(s[0].t),
                x(s[1].t) - x(s[0].t),
                h - top - 40.0
            ));
        }
    }
    for fps in [0.0, 8.0, 10.0, 30.0] {
        out.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ccc\"/><text x=\"8\" y=\"{:.1}\">{fps} fps</text>\n",
            w - 20.0,
            y(fps),
            y(fps),
            y(fps) + 4.0
        ));
    }
    // The Pi's load on the same axis, ×5: load 1 at 5, load 4 at 20 "fps".
    for (colour, value) in [("#16a34a", (|s: &Sample| s.fps) as fn(&Sample) -> f64), ("#ea580c", |s| s.pi_load * 5.0)] {
        let points: Vec<String> = r.samples.iter().map(|s| format!("{:.1},{:.1}", x(s.t), y(value(s)))).collect();
        out.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\n",
            points.join(" ")
        ));
    }
    for (i, (t, text)) in r.events.iter().enumerate() {
        let label: String = text.chars().take(48).collect::<String>().replace('&', "&amp;").replace('<', "&lt;");
        // Labels right of the middle end at their line, so they stay inside the picture.
        let (anchor, dx) = if x(*t) > w / 2.0 { ("end", -3.0) } else { ("start", 3.0) };
        out.push_str(&format!(
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{top}\" y2=\"{:.1}\" stroke=\"#dc2626\" stroke-dasharray=\"3,3\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#dc2626\" text-anchor=\"{anchor}\">{label}</text>\n",
            x(*t),
            x(*t),
            h - 40.0,
            x(*t) + dx,
            top + 12.0 + 13.0 * (i % 8) as f64
        ));
    }
    out.push_str(&format!(
        "<text x=\"{left}\" y=\"{:.1}\">seconds 0-{end:.0}; green: detector fps; orange: pi_load ×5; blue: running on the Jetson</text>\n</svg>\n",
        h - 12.0
    ));
    out
}

/// Default SVG path next to the repository's target directory.
pub fn default_svg(repo: &Path) -> PathBuf {
    repo.join("target").join("demo-timeline.svg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_draws_fps_and_the_pi_load_and_shades_the_jetson() {
        let at = |t: f64, agent: &str, fps: f64, pi_load: f64| Sample {
            t,
            agent: agent.into(),
            fps,
            pi_load,
            ..Sample::default()
        };
        let r = Report {
            samples: vec![
                at(0.0, "raspberrypi", 13.0, 1.0),
                at(10.0, "jetson-agx-orin", 30.0, 4.0),
                at(20.0, "raspberrypi", 3.3, 4.0),
            ],
            events: vec![(10.0, "OFFLOADED: fps 4.0 < 8 & <more>".into())],
            ..Report::default()
        };
        let picture = svg(&r);
        assert_eq!(picture.matches("<polyline").count(), 2, "fps and pi_load");
        // pi_load 4 is drawn ×5, at the height of 20 fps.
        let y20 = 20.0 + (320.0 - 20.0 - 40.0) * (1.0 - 20.0 / 32.0);
        assert!(picture.contains(&format!("{:.1},{y20:.1}", 50.0 + (900.0 - 50.0 - 20.0) * 0.5)), "{picture}");
        assert_eq!(picture.matches("fill=\"#dbeafe\"").count(), 1, "one span on the Jetson");
        assert!(picture.contains("OFFLOADED: fps 4.0 &lt; 8 &amp; &lt;more>"));
    }
}
