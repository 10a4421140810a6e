//! Certificates for the control plane, made with the `openssl` command line tool:
//! a CA, the API server's serving certificate, an admin client certificate
//! (CN=admin, O=system:masters) and the service-account signing key pair.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result, io};

/// Files written by [`generate`].
#[derive(Clone, Debug)]
pub struct Certs {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
}

pub fn generate(dir: &Path) -> Result<Certs> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let p = |name: &str| dir.join(name);
    let certs = Certs {
        ca_cert: p("ca.crt"),
        ca_key: p("ca.key"),
        serving_cert: p("apiserver.crt"),
        serving_key: p("apiserver.key"),
        admin_cert: p("admin.crt"),
        admin_key: p("admin.key"),
        sa_key: p("sa.key"),
        sa_pub: p("sa.pub"),
    };
    let s = |path: &PathBuf| path.to_string_lossy().into_owned();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "7",
        "-subj",
        "/CN=continuum-testenv-ca",
        "-keyout",
        &s(&certs.ca_key),
        "-out",
        &s(&certs.ca_cert),
    ])?;
    sign(
        &certs,
        "/CN=kube-apiserver",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth",
        &certs.serving_key,
        &certs.serving_cert,
    )?;
    sign(&certs, "/O=system:masters/CN=admin", "extendedKeyUsage=clientAuth", &certs.admin_key, &certs.admin_cert)?;
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &s(&certs.sa_key)])?;
    openssl(&["pkey", "-in", &s(&certs.sa_key), "-pubout", "-out", &s(&certs.sa_pub)])?;
    Ok(certs)
}

/// A key and a certificate signed by the CA, with the given subject and X.509 extensions.
pub fn sign(ca: &Certs, subject: &str, extensions: &str, key: &Path, cert: &Path) -> Result<()> {
    let csr = key.with_extension("csr");
    let ext = key.with_extension("ext");
    std::fs::write(&ext, format!("{extensions}\n")).map_err(io("writing the extensions file"))?;
    let s = |path: &Path| path.to_string_lossy().into_owned();
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        subject,
        "-keyout",
        &s(key),
        "-out",
        &s(&csr),
    ])?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        &s(&csr),
        "-CA",
        &s(&ca.ca_cert),
        "-CAkey",
        &s(&ca.ca_key),
        "-CAcreateserial",
        "-days",
        "7",
        "-extfile",
        &s(&ext),
        "-out",
        &s(cert),
    ])?;
    let _ = (std::fs::remove_file(&csr), std::fs::remove_file(&ext));
    Ok(())
}

fn openssl(args: &[&str]) -> Result<()> {
    let output = Command::new("openssl").args(args).output().map_err(io("running openssl (is it installed?)"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Command {
        command: format!("openssl {}", args.join(" ")),
        status: output.status.to_string(),
        log: PathBuf::from("(stderr)"),
        tail: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
