//! `crd`: print or write the generated CRD YAML.

use std::io::Write as _;

use crate::cli::CrdArgs;
use crate::error::{Error, Result};

pub fn main(args: &CrdArgs) -> Result<()> {
    let files = continuum_api::crd_files()?;
    if args.write.is_empty() {
        let mut out = std::io::stdout().lock();
        for (_, body) in &files {
            let _ = out.write_all(body.as_bytes());
        }
        return Ok(());
    }
    for dir in &args.write {
        for (name, body) in &files {
            let path = dir.join(name);
            if args.check {
                let current = std::fs::read_to_string(&path).unwrap_or_default();
                if current != *body {
                    return Err(Error::StaleCrd(path));
                }
                continue;
            }
            std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&path, body))
                .map_err(|source| Error::Write { path: path.clone(), source })?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}
