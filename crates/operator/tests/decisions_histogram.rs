//! Two OffloadPolicies scraping one detector's latency histogram directly (no Prometheus), at
//! different intervals: each must read the p90 of the observations made since ITS OWN previous
//! scrape, never since the other policy's. The exporter numbers its pages and keeps what each
//! showed, and each policy reads the number of its page, so every value in a policy's status is
//! checked against the quantile of exactly its own window.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use continuum_api::OffloadPolicy;
use continuum_testenv::kit::{self, Objects};
use continuum_testenv::sim::{Exporter, Quantile, ServedPage, quantile_between};
use k8s_openapi::api::apps::v1::Deployment;

mod common;
use common::{Testbed, fixtures};

const BOUNDS: [f64; 6] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
/// The steady stream, in the first bucket, and the bursts, in (0.25, 0.5].
const FAST: f64 = 0.02;
const SLOW: f64 = 0.4;
const BURST: u64 = 100;
const Q: f64 = 0.9;
/// The two policies: a fast reader and a slow one, whose scrapes fall now together with the
/// fast reader's, now between two of them.
const NAMES: [&str; 2] = ["every-1s", "every-2500ms"];
const INTERVALS: [u64; 2] = [1000, 2500];
const TICK: Duration = Duration::from_millis(50);

/// What each policy read: the number of the page it read, and the p90 (none on its first page).
type Reads = [BTreeMap<u64, Option<f64>>; 2];

fn policy(s: &Testbed, exporter: &Exporter, i: usize) -> kit::Result<OffloadPolicy> {
    let mut p: OffloadPolicy = fixtures().load("offloadpolicy-histogram.yaml")?;
    p.metadata.name = Some(NAMES[i].to_owned());
    p.spec.target_ref.name = format!("detector-{}", NAMES[i]);
    if let Some(scrape) = p.spec.telemetry.scrape.as_mut() {
        scrape.url = format!("http://127.0.0.1:{}/metrics", exporter.port);
    }
    p.spec.telemetry.interval = Duration::from_millis(INTERVALS[i]).into();
    p.spec.backends.local.endpoint = s.pi.endpoint();
    p.spec.backends.offload[0].endpoint = s.jetson.endpoint();
    Ok(p)
}

/// One window of one policy: the pages it read at both ends, the value it reported, the
/// quantile of its own window and that of the window since the page just before (what it would
/// report if the other policy's scrape moved its baseline).
#[derive(Debug)]
struct Check {
    policy: usize,
    from: u64,
    to: u64,
    got: f64,
    own: Quantile,
    cross: Option<Quantile>,
}

impl Check {
    /// Whether cross-talk would have given a value in another bucket.
    fn telling(&self) -> bool {
        self.cross.is_some_and(|c| c.upper != self.own.upper)
    }
}

/// Every window that can be checked: both ends read by the policy, and every page in between
/// read by the other one (a page nobody is seen reading may be a read of this policy missed).
fn checks(pages: &[ServedPage], reads: &Reads) -> Vec<Check> {
    let known = |k: u64| reads.iter().any(|r| r.contains_key(&k));
    let page = |k: u64| (k as usize).checked_sub(1).and_then(|i| pages.get(i)).map(|p| p.cumulative.as_slice());
    let mut out = Vec::new();
    for (policy, r) in reads.iter().enumerate() {
        for ((&from, _), (&to, got)) in r.iter().zip(r.iter().skip(1)) {
            let (Some(got), Some(start), Some(end)) = (*got, page(from), page(to)) else { continue };
            if !(from + 1..to).all(known) {
                continue;
            }
            let Some(own) = quantile_between(&BOUNDS, start, end, Q) else { continue };
            let cross = page(to - 1).filter(|_| to - 1 > from).and_then(|p| quantile_between(&BOUNDS, p, end, Q));
            out.push(Check { policy, from, to, got, own, cross });
        }
    }
    out
}

/// Where the driver is in its cycle over the slow reader's pages. A burst of slow observations
/// lands where cross-talk would show, and no other burst in the window it would be compared with:
/// right after a page of the slow reader (the fast reader's next scrapes take the burst, the slow
/// reader's own window holds it), then, one slow page later, right after a page of the fast
/// reader shortly before the slow reader's next scrape (that scrape comes between the fast
/// reader's two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// Burst at the slow reader's next page.
    AfterSlow,
    /// Let the slow reader's next page pass.
    Idle,
    /// Burst after a fast reader's page 250-850ms before the slow reader's next one is due.
    BeforeSlow,
    /// Let the slow page that burst was aimed before pass.
    AwaitSlow,
}

/// Drives the histogram: a steady stream of fast observations, and the bursts of [`Plan`].
struct Driver<'a> {
    exporter: &'a Exporter,
    policies: &'a Objects<OffloadPolicy>,
    reads: Reads,
    next_stream: Instant,
    plan: Plan,
    /// The newest page of the slow reader seen so far, and the newest page at all.
    slow_seen: u64,
    page_seen: u64,
    /// The page after which each burst landed.
    bursts: Vec<u64>,
}

impl Driver<'_> {
    fn read_statuses(&mut self) -> kit::Result<()> {
        for (i, name) in NAMES.iter().enumerate() {
            let p = self.policies.get(name)?;
            if let Some(page) = common::signal(&p, "page") {
                self.reads[i].insert(page as u64, common::signal(&p, "latency"));
            }
        }
        Ok(())
    }

    /// One tick: the stream, the statuses, and a burst where one is due.
    fn tick(&mut self) -> kit::Result<()> {
        if Instant::now() >= self.next_stream {
            self.exporter.observe(FAST, 5);
            self.next_stream += Duration::from_millis(100);
        }
        self.read_statuses()?;
        let pages = self.exporter.pages();
        let Some(newest) = pages.last().cloned() else { return Ok(()) };
        let page = |k: &u64| (*k as usize).checked_sub(1).and_then(|i| pages.get(i));
        let slow: Vec<&ServedPage> = self.reads[1].keys().filter_map(page).collect();
        let slow_newest = slow.last().map_or(0, |p| p.seq);
        let (new_slow, new_page) = (slow_newest > self.slow_seen, newest.seq > self.page_seen);
        (self.slow_seen, self.page_seen) = (slow_newest, newest.seq);
        let burst = match self.plan {
            Plan::AfterSlow | Plan::Idle | Plan::AwaitSlow if !new_slow => false,
            Plan::AfterSlow => true,
            Plan::Idle | Plan::AwaitSlow => {
                self.plan = if self.plan == Plan::Idle { Plan::BeforeSlow } else { Plan::AfterSlow };
                return Ok(());
            }
            Plan::BeforeSlow => new_page && newest.seq > slow_newest && shortly_before_slow(&slow, &newest),
        };
        if burst {
            self.exporter.observe(SLOW, BURST);
            self.bursts.push(newest.seq);
            self.plan = if self.plan == Plan::AfterSlow { Plan::Idle } else { Plan::AwaitSlow };
        }
        Ok(())
    }
}

/// Whether `page` came 250-850ms before the slow reader's next page is due (predicted from its
/// last two).
fn shortly_before_slow(slow: &[&ServedPage], page: &ServedPage) -> bool {
    let [.., before, last] = slow else { return false };
    let due = last.at + (last.at - before.at);
    let lead = due.checked_duration_since(page.at).unwrap_or_default();
    (Duration::from_millis(250)..Duration::from_millis(850)).contains(&lead)
}

/// `seq:reader@seconds` of every page, `*` after those a burst followed.
fn timeline(pages: &[ServedPage], driver: &Driver<'_>) -> String {
    let t0 = pages.first().map(|p| p.at);
    let shown: Vec<String> = pages
        .iter()
        .map(|p| {
            let reader = driver.reads.iter().position(|r| r.contains_key(&p.seq)).map_or("?", |i| NAMES[i]);
            let at = t0.map_or(0.0, |t| (p.at - t).as_secs_f64());
            let burst = if driver.bursts.contains(&p.seq) { "*" } else { "" };
            format!("{}:{reader}@{at:.2}{burst}", p.seq)
        })
        .collect();
    shown.join(" ")
}

/// (windows checked, telling windows) of each policy.
fn tally(checks: &[Check]) -> [(usize, usize); 2] {
    let mut t = [(0, 0); 2];
    for c in checks {
        t[c.policy].0 += 1;
        t[c.policy].1 += usize::from(c.telling());
    }
    t
}

#[test]
#[ignore = "attributes each read to a page through status, which is now written only on change (a page counter moving under 5% is not rewritten) and whose scrapes are shared between policies; per-policy baselines stay private (unit-tested in offload::observe); to be rewritten on the metrics page"]
fn two_policies_on_one_histogram_each_read_the_quantile_of_their_own_scrape_window() -> kit::Result<()> {
    let s = Testbed::start(false)?;
    let exporter = Exporter::with_histogram(25.0, &BOUNDS);
    let deployments: Objects<Deployment> = s.cluster.namespaced("default");
    let policies: Objects<OffloadPolicy> = s.cluster.namespaced("default");
    for name in NAMES {
        let mut d = common::detector(&s.pi.endpoint())?;
        d.metadata.name = Some(format!("detector-{name}"));
        deployments.apply(&d, "gitops")?;
    }
    let _operator = s.operator("test-operator")?;
    for i in 0..2 {
        policies.apply(&policy(&s, &exporter, i)?, "user")?;
    }
    let mut driver = Driver {
        exporter: &exporter,
        policies: &policies,
        reads: Default::default(),
        next_stream: Instant::now(),
        plan: Plan::AfterSlow,
        slow_seen: 0,
        page_seen: 0,
        bursts: Vec::new(),
    };
    // Until each policy had three windows where cross-talk would show (at least 20s).
    let started = Instant::now();
    let mut last_tally = Instant::now();
    loop {
        driver.tick()?;
        if last_tally.elapsed() >= Duration::from_secs(1) {
            last_tally = Instant::now();
            let t = tally(&checks(&exporter.pages(), &driver.reads));
            if started.elapsed() > Duration::from_secs(20) && t.iter().all(|(_, telling)| *telling >= 3) {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                let seen = timeline(&exporter.pages(), &driver);
                return Err(kit::Error::Failed(format!("too few telling windows in 120s: {t:?}; pages: {seen}")));
            }
        }
        std::thread::sleep(TICK);
    }
    report(&exporter.pages(), &driver);
    Ok(())
}

/// Prints the figures and asserts every checked value lies in its own window's bucket.
fn report(pages: &[ServedPage], driver: &Driver<'_>) {
    let all = checks(pages, &driver.reads);
    let t = tally(&all);
    let worst = all.iter().map(|c| (c.got - c.own.value).abs()).fold(0.0, f64::max);
    eprintln!(
        "{} pages, {} bursts; windows checked (all, telling): {} {:?}, {} {:?}; largest gap to the interpolated p90 {worst:.4}s",
        pages.len(),
        driver.bursts.len(),
        NAMES[0],
        t[0],
        NAMES[1],
        t[1]
    );
    for c in all.iter().filter(|c| c.telling()) {
        let cross = c.cross.map(|q| q.value).unwrap_or_default();
        eprintln!(
            "  {} pages {}..{}: read {:.3}, own window {:.3} in ({}, {}], since page {} {:.3}",
            NAMES[c.policy],
            c.from,
            c.to,
            c.got,
            c.own.value,
            c.own.lower,
            c.own.upper,
            c.to - 1,
            cross
        );
    }
    for c in &all {
        let inside = c.got >= c.own.lower - 0.001 && c.got <= c.own.upper + 0.001;
        assert!(
            inside,
            "{} read {} over pages {}..{}, not in its own window's bucket: {c:?}",
            NAMES[c.policy], c.got, c.from, c.to
        );
    }
}
