//! The `callgate` command line: `run`, `check-config`, `sandbox`, `demo`, `settings`, `route`,
//! `loadtest`.
#![forbid(unsafe_code)]

use callgate::config::{self, Config};
use callgate::telemetry::{self, LogFormat};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "callgate",
    version,
    about = "WhatsApp Business calling <-> SIP gateway"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (without --config: the embedded default, which runs offline on the sandbox).
    Run {
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check a configuration file: exit 0 when valid, else print every problem as file:line: key: message.
    CheckConfig {
        /// Configuration file.
        file: PathBuf,
    },
    /// Run the sandbox Cloud API (the offline stand-in for Meta) alone.
    Sandbox {
        /// Configuration file for credentials and numbers (default: the embedded one).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where to send webhooks (default: http://<[http] listen>/webhook).
        #[arg(long)]
        webhook_url: Option<url::Url>,
    },
    /// Run gateway + sandbox on the embedded default, place one simulated WhatsApp call to an agent
    /// phone (baresip if installed, else a built-in SIP agent), print a report; exit 1 on failure.
    Demo,
    /// A business number's calling settings at Meta: pull, diff, push.
    Settings {
        /// Configuration file (default: the embedded one).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: callgate::settings::cli::SettingsCommand,
    },
    /// Where a WhatsApp user's call would ring, and why: a dry run of hours and routing rules.
    Route(callgate::policy::dry_run::RouteArgs),
    /// Drive many concurrent calls through a callgate (started for the run, or --attach) and
    /// report its CPU and memory per call, set-up times, added latency and loss.
    Loadtest(Box<callgate::loadtest::cli::LoadtestArgs>),
}

fn load(path: Option<&PathBuf>) -> Result<Config, config::ConfigError> {
    match path {
        Some(p) => config::load_file(p, std::env::vars()),
        None => Config::embedded_default(),
    }
}

/// Runs `then` with the configuration at `path` (the embedded default without one); a
/// configuration that does not load is printed and exits 2.
fn with_config(path: Option<&PathBuf>, then: impl FnOnce(Config) -> ExitCode) -> ExitCode {
    match load(path) {
        Ok(cfg) => then(cfg),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => with_config(Some(&file), |_| {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }),
        Command::Run { config } => {
            telemetry::init_logging(cli.log_format);
            with_config(config.as_ref(), |cfg| {
                runtime(callgate::gateway::run_until_signal(cfg))
            })
        }
        Command::Sandbox {
            config,
            webhook_url,
        } => {
            telemetry::init_logging(cli.log_format);
            with_config(config.as_ref(), |cfg| {
                runtime(callgate::gateway::run_sandbox_until_signal(
                    cfg,
                    webhook_url,
                ))
            })
        }
        Command::Demo => {
            telemetry::init_logging_at(cli.log_format, "warn");
            runtime(callgate::demo::run())
        }
        Command::Settings { config, command } => {
            with_config(config.as_ref(), |cfg| settings(&cfg, &command))
        }
        Command::Route(args) => {
            let routed = load(args.config.as_ref())
                .map_err(|e| e.to_string())
                .and_then(|cfg| callgate::policy::dry_run::route(&cfg, &args));
            match routed {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("callgate route: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Loadtest(args) => {
            telemetry::init_logging_at(cli.log_format, "warn");
            match tokio::runtime::Runtime::new()
                .map(|rt| rt.block_on(callgate::loadtest::cli::command(*args)))
            {
                Ok(Ok(true)) => ExitCode::SUCCESS,
                Ok(Ok(false)) => ExitCode::from(1),
                Ok(Err(e)) => {
                    eprintln!("callgate loadtest: {e:#}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `callgate settings ...`: exit 0 done / in sync, 1 differences found, 2 refused or failed.
fn settings(cfg: &Config, command: &callgate::settings::cli::SettingsCommand) -> ExitCode {
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        eprintln!("cannot start the async runtime");
        return ExitCode::FAILURE;
    };
    match rt.block_on(callgate::settings::cli::run(cfg, command)) {
        Ok((text, status)) => {
            print!("{text}");
            ExitCode::from(status)
        }
        Err(e) => {
            eprintln!("callgate settings: {e}");
            ExitCode::from(2)
        }
    }
}

fn runtime(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}
