//! The one kubectl wrapper, for what a user sees through kubectl: printer columns, `explain`,
//! `auth can-i`, admission messages. Everything else goes through the typed client.

use std::io::Write;
use std::process::{Output, Stdio};

use super::error::{Result, io_err};
use crate::ControlPlane;

/// kubectl (the version built with the API server) on one control plane.
#[derive(Debug, Clone, Copy)]
pub struct Kubectl<'a>(pub &'a ControlPlane);

/// What a kubectl run printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub(crate) fn from_output(out: &Output) -> Self {
        Self {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// stdout then stderr, for assertion messages.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Kubectl<'_> {
    /// Runs `kubectl args..`, whatever its exit status.
    pub fn run(&self, args: &[&str]) -> Result<Ran> {
        self.run_with_input(args, None)
    }

    /// Runs `kubectl args..` with `input` on stdin (`-f -`).
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Result<Ran> {
        self.run_with_input(args, Some(input))
    }

    fn run_with_input(&self, args: &[&str], input: Option<&str>) -> Result<Ran> {
        let what = format!("running kubectl {}", args.join(" "));
        let mut child = self
            .0
            .kubectl()
            .args(args)
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_err(what.clone()))?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(text.as_bytes()).map_err(io_err(what.clone()))?;
        }
        let out = child.wait_with_output().map_err(io_err(what))?;
        Ok(Ran::from_output(&out))
    }

    /// `kubectl get <resource> -n <ns>` as a user reads it: the header (the printer columns)
    /// and one row per object, each split into words.
    pub fn table(&self, resource: &str, ns: &str) -> Result<Vec<Vec<String>>> {
        let ran = self.run(&["get", resource, "-n", ns])?;
        if !ran.ok {
            return Err(super::Error::Failed(format!("kubectl get {resource} -n {ns}: {}", ran.stderr)));
        }
        Ok(ran.stdout.lines().map(|l| l.split_whitespace().map(str::to_owned).collect()).collect())
    }
}
