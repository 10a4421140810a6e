//! Child processes that cannot outlive their owner.
//!
//! Each server runs under a small `sh` supervisor whose stdin is a pipe from this process. When
//! the owner drops the guard, or dies in any way (panic, abort, SIGKILL, a `static` that is never
//! dropped), the pipe closes, and the supervisor stops the server (TERM, then KILL after 10s) and
//! optionally removes a directory. No `unsafe` (no `prctl`) is needed for that.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::error::{Result, io};

const SUPERVISOR: &str = r#"
"$@" </dev/null &
child=$!
trap '' INT
echo "$child" > "$GUARD_PIDFILE"
cat >/dev/null
# The server may be a wrapper (strace) whose tracee would outlive it: stop its children first.
kids=""
for stat in /proc/[0-9]*/stat; do
  read -r pid comm state ppid rest < "$stat" 2>/dev/null || continue
  [ "$ppid" = "$child" ] && kids="$kids $pid"
done
kill -TERM $kids "$child" 2>/dev/null
i=0
alive() { for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while alive $kids "$child" && [ "$i" -lt 100 ]; do
  sleep 0.1; i=$((i+1))
done
kill -KILL $kids "$child" 2>/dev/null
wait "$child" 2>/dev/null
for p in $GUARD_WAIT_PIDS; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
if [ -n "$GUARD_REMOVE" ]; then rm -rf "$GUARD_REMOVE"; fi
"#;

/// A supervised child process.
#[derive(Debug)]
pub struct Guarded {
    name: &'static str,
    supervisor: Option<Child>,
    pub log: PathBuf,
    pidfile: PathBuf,
}

impl Guarded {
    /// Starts `program args..` with stdout and stderr appended to `log`.
    pub fn spawn(name: &'static str, program: &Path, args: &[String], log: &Path) -> Result<Self> {
        Self::spawn_with_cleanup(name, program, args, log, None, &[])
    }

    /// Like [`Guarded::spawn`]; after the process has exited, waits for the processes `wait_for`
    /// to exit too, then deletes `remove`.
    pub fn spawn_with_cleanup(
        name: &'static str,
        program: &Path,
        args: &[String],
        log: &Path,
        remove: Option<&Path>,
        wait_for: &[u32],
    ) -> Result<Self> {
        let wait_pids: Vec<String> = wait_for.iter().map(u32::to_string).collect();
        let out =
            File::options().create(true).append(true).open(log).map_err(io(format!("opening {}", log.display())))?;
        let err = out.try_clone().map_err(io("duplicating a log handle"))?;
        let pidfile = log.with_extension("pid");
        // A restarted server reuses the log: a stale pid would make it look dead before it starts.
        let _ = std::fs::remove_file(&pidfile);
        let supervisor = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg(name)
            .arg(program)
            .args(args)
            .env("GUARD_PIDFILE", &pidfile)
            .env("GUARD_WAIT_PIDS", wait_pids.join(" "))
            .env("GUARD_REMOVE", remove.map(|p| p.as_os_str().to_owned()).unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io(format!("starting {name}")))?;
        Ok(Self { name, supervisor: Some(supervisor), log: log.to_owned(), pidfile })
    }

    /// A process that only waits for its owner to go away, then (after the processes `wait_for`
    /// exited) deletes `dir`: temp directories never outlive the test that made them.
    pub fn janitor(dir: &Path, wait_for: &[u32]) -> Result<Self> {
        let sleep = ["2147483647".to_owned()];
        Self::spawn_with_cleanup("janitor", Path::new("sleep"), &sleep, &dir.join("janitor.log"), Some(dir), wait_for)
    }

    /// Name given at spawn.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Process id of the server itself (not of its supervisor), once it has started.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.pidfile).ok()?.trim().parse().ok()
    }

    /// Whether the supervised server is still running.
    pub fn is_running(&self) -> bool {
        match self.pid() {
            Some(pid) => Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid),
            None => true,
        }
    }

    /// Stops the server and waits until it (and any directory removal) is done.
    pub fn stop(&mut self) {
        if let Some(mut supervisor) = self.supervisor.take() {
            drop(supervisor.stdin.take());
            let _ = supervisor.wait();
        }
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(true)
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.stop();
    }
}
