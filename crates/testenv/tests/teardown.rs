//! The control plane never outlives its owner: not on drop, not on panic, not on SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use continuum_testenv::ControlPlane;

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

fn gone_within(pids: &[u32], dir: &Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if pids.iter().all(|p| !alive(*p)) && !dir.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn dropping_the_control_plane_stops_the_servers_and_removes_its_directory() {
    let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
    let (pids, dir) = (cp.pids(), cp.dir.clone());
    assert_eq!(pids.len(), 2, "etcd and kube-apiserver pids: {pids:?}");
    assert!(pids.iter().all(|p| alive(*p)) && dir.is_dir());
    eprintln!("control plane start-to-ready: {:.2}s", cp.start_to_ready.as_secs_f64());
    drop(cp);
    assert!(pids.iter().all(|p| !alive(*p)), "servers still running after drop: {pids:?}");
    assert!(!dir.exists(), "{} still exists after drop", dir.display());
}

#[test]
fn a_panicking_owner_still_tears_everything_down() {
    let (tx, rx) = std::sync::mpsc::channel::<(Vec<u32>, PathBuf)>();
    let owner = std::thread::spawn(move || {
        let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
        let _ = tx.send((cp.pids(), cp.dir.clone()));
        panic!("deliberate panic while holding the control plane");
    });
    assert!(owner.join().is_err(), "the owner thread should have panicked");
    let (pids, dir) = rx.recv().unwrap_or_else(|e| panic!("{e}"));
    assert!(gone_within(&pids, &dir, Duration::from_secs(15)), "left behind after a panic: {pids:?} {}", dir.display());
}

#[test]
fn a_killed_owner_process_still_tears_everything_down() {
    let mut up = Command::new(env!("CARGO_BIN_EXE_continuum-testenv"))
        .arg("up")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = up.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let kubeconfig = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("kubeconfig=").map(PathBuf::from))
        .unwrap_or_else(|| panic!("`continuum-testenv up` printed no kubeconfig"));
    let dir = kubeconfig.parent().unwrap_or_else(|| panic!("kubeconfig has no parent")).to_owned();
    let pids: Vec<u32> = ["etcd.pid", "kube-apiserver.pid"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok()?.trim().parse().ok())
        .collect();
    assert_eq!(pids.len(), 2, "pid files in {}", dir.display());
    let killed = Command::new("kill").args(["-KILL", &up.id().to_string()]).status().unwrap_or_else(|e| panic!("{e}"));
    assert!(killed.success());
    let _ = up.wait();
    assert!(gone_within(&pids, &dir, Duration::from_secs(20)), "left behind after SIGKILL: {pids:?} {}", dir.display());
}
