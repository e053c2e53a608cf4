//! `spillway`: parse the command line, then serve, simulate or mint a token.

use std::process::ExitCode;

use clap::Parser;
use spillway::auth::dev::DevIssuer;
use spillway::config::{Cli, Command, Config, SimArgs, TokenArgs};
use spillway::server::Server;
use tokio_util::sync::CancellationToken;

/// mimalloc (version 2), not glibc's malloc: ~20% less CPU per stream start
/// and ~6% per event, with the same retained memory per event
/// (BENCHMARKS.md, "Stream start and per-event CPU").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let log_format = config.log_format;
    spillway::telemetry::init(log_format);
    spillway::config::warn_about_unknown_env_vars();
    let otel = spillway::telemetry::otel::init()?;
    let server = Server::start(config).await?;
    // One line on stdout, so scripts that ask for port 0 learn the address.
    println!(
        "{}",
        spillway::telemetry::logs::listening_line(log_format, &server.url())
    );
    shutdown_signal().await;
    server.shutdown().await;
    // Sessions that ended while draining are exported before the process exits.
    if let Some(otel) = otel {
        otel.shutdown().await;
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
    let state = spillway_sim::SimState::new();
    let mut serving = vec![tokio::spawn(spillway_sim::serve(
        listener,
        state.clone(),
        stop.clone(),
    ))];
    if let Some(at) = args.tls_listen {
        let alpn = if args.http1_only {
            spillway_sim::Alpn::Http1Only
        } else {
            spillway_sim::Alpn::H2AndHttp1
        };
        let tls = spillway_sim::SimTls::generate(alpn)?;
        write_cert(&args.tls_cert_out, tls.cert_pem())?;
        let listener = tokio::net::TcpListener::bind(at).await?;
        println!(
            "spillway sim listening on https://{} (certificate {})",
            listener.local_addr()?,
            args.tls_cert_out.display()
        );
        serving.push(tokio::spawn(spillway_sim::serve_tls(
            listener,
            state,
            tls,
            stop.clone(),
        )));
    }
    shutdown_signal().await;
    stop.cancel();
    for task in serving {
        task.await??;
    }
    Ok(())
}

/// The simulator's certificate, written whole where clients can trust it.
fn write_cert(path: &std::path::Path, pem: &str) -> Result {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, pem)?;
    std::fs::rename(&tmp, path)?;
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
