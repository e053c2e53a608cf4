//! `spillway`: parse the command line, then serve, simulate or mint a token.

use std::process::ExitCode;

use clap::Parser;
use spillway::auth::dev::DevIssuer;
use spillway::config::{Cli, Command, Config, SimArgs, TokenArgs};
use spillway::server::Server;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(config)) => serve(*config).await,
        Some(Command::Sim(args)) => sim(args).await,
        Some(Command::Token(args)) => token(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spillway: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

async fn serve(config: Config) -> Result {
    spillway::telemetry::init(config.log_format);
    let traces = spillway::telemetry::otel::init()?;
    let server = Server::start(config).await?;
    // One line on stdout, so scripts that ask for port 0 learn the address.
    println!("spillway listening on {}", server.url());
    shutdown_signal().await;
    server.shutdown().await;
    // Sessions that ended while draining are exported before the process exits.
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    Ok(())
}

async fn sim(args: SimArgs) -> Result {
    spillway::telemetry::init(spillway::config::LogFormat::Text);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!(
        "spillway sim listening on http://{}",
        listener.local_addr()?
    );
    let stop = CancellationToken::new();
    let serving = tokio::spawn(spillway_sim::serve(
        listener,
        spillway_sim::SimState::new(),
        stop.clone(),
    ));
    shutdown_signal().await;
    stop.cancel();
    serving.await??;
    Ok(())
}

fn token(args: TokenArgs) -> Result {
    let issuer = DevIssuer::load_or_create(&args.data_dir)?;
    println!("{}", issuer.mint(&args.sub, &args.groups, args.ttl)?);
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
