//! continuum-operator binary: a thin shell over the library modules.

use clap::Parser;

use continuum_operator::{check_etcd, cli, crdgen, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    cli::init_tracing(&cli.log_format);
    let result = match cli.command {
        cli::Command::Crd(args) => crdgen::main(&args),
        cli::Command::Run(args) => run::main(args).await,
        cli::Command::InstallCrds(args) => run::install_crds(args).await,
        cli::Command::Version => {
            println!(
                "continuum-operator {} (API continuum.dev/v1alpha1: OffloadPolicy, EtcdHealth)",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        cli::Command::CheckEtcd(args) => return check_etcd::main(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "continuum-operator failed");
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
