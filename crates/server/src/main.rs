//! `jinlin`: the one binary — serve, demo, migrate, accounts, grid import, backup and restore.

mod config;
mod seed;

use std::io::{IsTerminal, Read};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use jinlin_app::accounts::UserInput;
use jinlin_app::{Actor, App};
use jinlin_domain::accounts::Role;
use jinlin_store::Store;

use config::{Config, Overrides};

/// mimalloc instead of glibc's malloc: a large import allocates millions of small strings on
/// the thread that reads the file and frees them on the threads that check them, which glibc's
/// arenas serialise behind a lock, and glibc hands big maps back to the kernel only to fault
/// them in again. A million-row file is read and checked in 12–14 s instead of 21–23 s.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "jinlin",
    version,
    about = "近邻 Jinlin — 近邻党建 · 网格化基层治理平台"
)]
struct Cli {
    /// Configuration file (TOML); see `jinlin config example`.
    #[arg(long, global = true, env = "JINLIN_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (SQLite database, uploads).
    #[arg(long = "data", global = true)]
    data: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://…
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Jinlin (creates no accounts; use `jinlin user create`).
    Serve {
        #[arg(long)]
        listen: Option<String>,
    },
    /// Create a realistic demo county in an empty data directory, then serve it.
    Demo {
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API tokens for machine clients.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Open311 GeoReport v2 client keys.
    Open311 {
        #[command(subcommand)]
        command: Open311Command,
    },
    /// The region tree and grid polygons.
    Regions {
        #[command(subcommand)]
        command: RegionsCommand,
    },
    /// Consistent online copy of the SQLite database.
    Backup {
        #[arg(long)]
        to: PathBuf,
    },
    /// Replace the SQLite database with a backup (stop the server first).
    Restore {
        #[arg(long)]
        from: PathBuf,
    },
    /// The statistics rollups.
    Stats {
        #[command(subcommand)]
        command: StatsCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// People lists (实有人口): import from xlsx/csv, the import template.
    People {
        #[command(subcommand)]
        command: PeopleCommand,
    },
    /// The field-encryption key file.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum PeopleCommand {
    /// Import persons, dwellings and households from an .xlsx or .csv file with Chinese column
    /// headers (see `jinlin people template`). All valid rows in one transaction, or nothing.
    Import {
        file: PathBuf,
        /// Region code (a street, community, compound, grid or building) the buildings must lie in.
        #[arg(long)]
        region: String,
        /// Import the valid rows even when other rows have errors.
        #[arg(long)]
        only_valid: bool,
    },
    /// Write the import template (.xlsx) to a file.
    Template {
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new encryption key and re-encrypt every stored ID and phone number with it.
    Rotate,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from standard input, or generated and printed once.
    Create {
        #[arg(long)]
        role: String,
        /// Region code the account is bound to (its jurisdiction).
        #[arg(long)]
        region: String,
        /// Login name.
        #[arg(long)]
        name: String,
        /// Display name (defaults to the login name).
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        phone: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new API token for a user (shown once).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "命令行创建")]
        label: String,
    },
}

#[derive(Subcommand)]
enum Open311Command {
    /// Keys Open311 clients file requests with.
    Key {
        #[command(subcommand)]
        command: Open311KeyCommand,
    },
}

#[derive(Subcommand)]
enum Open311KeyCommand {
    /// Print a new key for a client of one district (shown once).
    Create {
        /// Who the key is for, e.g. "市 12345 平台".
        #[arg(long)]
        name: String,
        /// District code the key files requests in (its jurisdiction_id).
        #[arg(long)]
        district: String,
        #[arg(long, default_value = "")]
        contact: String,
        /// Requests per minute.
        #[arg(long)]
        per_minute: Option<i64>,
        /// Answer POST requests with a token to poll instead of the case number.
        #[arg(long)]
        token_receipt: bool,
    },
    /// List keys.
    List,
    /// Revoke a key by its number (see `list`).
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum RegionsCommand {
    /// Import grid polygons from a GeoJSON file (all or nothing).
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum StatsCommand {
    /// Recompute the daily statistics rollups from the cases (one transaction).
    Rebuild,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented example configuration.
    Example,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Config {
        command: ConfigCommand::Example,
    } = cli.command
    {
        print!("{}", config::EXAMPLE);
        return std::process::ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("错误：无法启动运行时：{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误：{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JINLIN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open(config: &Config) -> anyhow::Result<Store> {
    if !config.is_postgres() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("无法创建数据目录 {}", config.data_dir.display()))?;
    }
    let store = Store::connect(&config.database_url())
        .await
        .context("无法连接数据库")?;
    store.migrate().await.context("数据库迁移失败")?;
    Ok(store)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen } | Command::Demo { listen } => listen.clone(),
        _ => None,
    };
    let config = Config::load(
        cli.config.as_deref(),
        Overrides {
            data_dir: cli.data.clone(),
            listen,
            database_url: cli.database_url.clone(),
        },
    )?;
    init_logging(&config);
    match cli.command {
        Command::Serve { .. } => {
            let store = open(&config).await?;
            let app = App::new(store, config.settings()).await?;
            serve(config, app).await
        }
        Command::Demo { .. } => {
            let store = open(&config).await?;
            seed::county(&store).await?;
            let app = App::new(store, config.settings()).await?;
            seed::demo(&app).await?;
            serve(config, app).await
        }
        Command::Migrate => {
            open(&config).await?;
            println!("数据库已是最新结构。");
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Create {
                    role,
                    region,
                    name,
                    display_name,
                    phone,
                },
        } => {
            let role = Role::parse(&role).with_context(|| {
                let all: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!("未知角色 {role}，可选：{}", all.join(", "))
            })?;
            let password = read_password_from_stdin()?;
            let app = App::new(open(&config).await?, config.settings()).await?;
            let (_, generated) = app
                .create_user(
                    &Actor::console(),
                    UserInput {
                        display_name: display_name.unwrap_or_else(|| name.clone()),
                        username: name.clone(),
                        role,
                        region_code: region,
                        work_phone: phone,
                        password,
                    },
                )
                .await?;
            println!("已创建账号 {name}（{}）。", role.zh());
            if let Some(p) = generated {
                println!("初始密码（仅显示这一次）：{p}");
            }
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { user, label },
        } => {
            let app = App::new(open(&config).await?, config.settings()).await?;
            let token = app
                .create_api_token(&Actor::console(), &user, &label)
                .await?;
            println!("{token}");
            eprintln!("以上令牌仅显示这一次；请求时使用请求头 Authorization: Bearer <令牌>。");
            Ok(())
        }
        Command::Open311 {
            command: Open311Command::Key { command },
        } => {
            let app = App::new(open(&config).await?, config.settings()).await?;
            open311_key(&app, command).await
        }
        Command::Regions {
            command: RegionsCommand::Import { file },
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("无法读取 {}", file.display()))?;
            let app = App::new(open(&config).await?, config.settings()).await?;
            let report = app.import_grids(&Actor::console(), &text).await?;
            println!(
                "导入完成：新建 {} 个网格，更新 {} 个网格边界。",
                report.created.len(),
                report.updated.len()
            );
            for w in report.warnings {
                println!("提醒：{w}");
            }
            Ok(())
        }
        Command::Backup { to } => {
            let store = open(&config).await?;
            store.backup_to(&to).await?;
            println!("已备份到 {}", to.display());
            Ok(())
        }
        Command::Restore { from } => restore(&config, &from).await,
        Command::Stats {
            command: StatsCommand::Rebuild,
        } => {
            let store = open(&config).await?;
            let started = std::time::Instant::now();
            store.rebuild_stats_rollup().await?;
            println!(
                "统计汇总已重建（{:.1} 秒）。",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Config { .. } => Ok(()),
        Command::People { command } => people(&config, command).await,
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let app = App::new(open(&config).await?, config.settings()).await?;
            let started = std::time::Instant::now();
            let (id, done) = app
                .rotate_field_key(&Actor::console(), &|n| {
                    if n % 100_000 < jinlin_app::people::ROTATE_BATCH as usize {
                        eprintln!("已重新加密 {n} 人……");
                    }
                })
                .await?;
            println!(
                "已启用新密钥 {id}，重新加密 {done} 人（{:.1} 秒）。请重启服务，并另行备份密钥文件。",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}

/// A password piped in (`echo secret | jinlin user create …`); none when typing at a terminal.
fn read_password_from_stdin() -> anyhow::Result<Option<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut text = String::new();
    stdin.lock().take(4096).read_to_string(&mut text)?;
    Ok(text
        .lines()
        .next()
        .map(str::to_owned)
        .filter(|p| !p.is_empty()))
}

async fn restore(config: &Config, from: &std::path::Path) -> anyhow::Result<()> {
    if config.is_postgres() {
        anyhow::bail!("PostgreSQL 数据库请使用 pg_restore 或 psql 从 pg_dump 备份中恢复。");
    }
    if !from.is_file() {
        anyhow::bail!("备份文件 {} 不存在", from.display());
    }
    // Check that the file really is a Jinlin database before it replaces anything.
    let mut magic = [0u8; 16];
    let is_sqlite = std::fs::File::open(from)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"SQLite format 3\0";
    if !is_sqlite {
        anyhow::bail!("{} 不是 SQLite 数据库文件，未做任何更改", from.display());
    }
    let probe = Store::connect(&format!("sqlite://{}", from.display()))
        .await
        .context("备份文件无法作为 SQLite 数据库打开")?;
    let version = probe.schema_version().await.unwrap_or(0);
    probe.close().await;
    if version < 1 {
        anyhow::bail!(
            "备份文件 {} 不是近邻数据库（没有数据库结构版本）",
            from.display()
        );
    }
    let target = config.sqlite_path();
    std::fs::create_dir_all(&config.data_dir)?;
    let staging = target.with_extension("db.restoring");
    std::fs::copy(from, &staging).context("复制备份文件失败")?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", target.display()));
        if side.exists() {
            std::fs::remove_file(&side)?;
        }
    }
    std::fs::rename(&staging, &target).context("替换数据库文件失败")?;
    println!(
        "已从 {} 恢复到 {}；请重新启动 jinlin serve。",
        from.display(),
        target.display()
    );
    Ok(())
}

async fn serve(config: Config, app: App) -> anyhow::Result<()> {
    let sweeper = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
        loop {
            tick.tick().await;
            if let Err(e) = sweeper.sweep_sessions().await {
                tracing::warn!(error = %e, "session sweep failed");
            }
        }
    });
    // The deadline sweeper: escalates overdue cases and closes unrated ones. It starts at once,
    // so a restart catches up on whatever came due while the server was down.
    let cases = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            tick.tick().await;
            loop {
                match cases.sweep_cases().await {
                    // A full batch: more may be due; go on without waiting.
                    Ok(n) if n >= 200 => continue,
                    Ok(n) => {
                        if n > 0 {
                            tracing::info!(cases = n, "deadline sweep");
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "deadline sweep failed");
                        break;
                    }
                }
            }
        }
    });
    if app.settings.webhook_url.is_some() {
        let hooks = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
            loop {
                tick.tick().await;
                if let Err(e) = hooks.deliver_webhooks().await {
                    tracing::warn!(error = %e, "webhook delivery round failed");
                }
            }
        });
    }
    let router = jinlin_web::router(
        app,
        jinlin_web::WebConfig {
            cookie_secure: config.cookie_secure,
        },
    );
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("无法监听 {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = if config.is_postgres() { "postgres" } else { "sqlite" }, "jinlin serving");
    println!("近邻已启动：http://{addr}/");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

async fn open311_key(app: &App, command: Open311KeyCommand) -> anyhow::Result<()> {
    let console = Actor::console();
    match command {
        Open311KeyCommand::Create {
            name,
            district,
            contact,
            per_minute,
            token_receipt,
        } => {
            let created = app
                .create_open311_key(
                    &console,
                    jinlin_app::open311::NewKey {
                        name,
                        contact,
                        district,
                        per_minute,
                        token_receipt,
                    },
                )
                .await?;
            println!("{}", created.key);
            eprintln!(
                "以上密钥（编号 {}）仅显示这一次；客户端提交诉求时以参数 api_key 传递。",
                created.id
            );
        }
        Open311KeyCommand::List => {
            let keys = app.open311_keys(&console).await?;
            if keys.is_empty() {
                println!("还没有发放任何密钥。");
            }
            for k in keys {
                println!(
                    "{}\t{}…\t{}\t{}\t每分钟 {} 件\t已提交 {} 件\t{}",
                    k.id,
                    k.key_prefix,
                    k.tenant,
                    k.name,
                    k.per_minute,
                    k.requests,
                    match k.revoked_at {
                        Some(at) => format!("已停用 {}", jinlin_domain::deadlines::format_cst(at)),
                        None => "有效".into(),
                    }
                );
            }
        }
        Open311KeyCommand::Revoke { id } => {
            app.revoke_open311_key(&console, id).await?;
            println!("密钥 {id} 已停用。");
        }
    }
    Ok(())
}

async fn people(config: &Config, command: PeopleCommand) -> anyhow::Result<()> {
    use jinlin_app::people::import;
    match command {
        PeopleCommand::Template { to } => {
            let bytes = import::template_xlsx()?;
            std::fs::write(&to, bytes).with_context(|| format!("无法写入 {}", to.display()))?;
            println!("导入模板已写入 {}", to.display());
            Ok(())
        }
        PeopleCommand::Import {
            file,
            region,
            only_valid,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("无法读取 {}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let app = App::new(open(config).await?, config.settings()).await?;
            let started = std::time::Instant::now();
            // A line every 100,000 rows (persons, when writing) and at each stage's start and end.
            let shown = std::sync::atomic::AtomicUsize::new(usize::MAX);
            let progress: import::ImportProgress =
                std::sync::Arc::new(move |stage, done, total| {
                    let step = done / 100_000;
                    let moved = shown.swap(step, std::sync::atomic::Ordering::Relaxed) != step;
                    if !(moved || done == total) {
                        return;
                    }
                    match stage {
                        import::ImportStage::Reading if done == 0 => eprintln!("正在读取文件……"),
                        import::ImportStage::Reading => eprintln!("已读取 {done} 行……"),
                        import::ImportStage::Checking => eprintln!("已检查 {done} / {total} 行……"),
                        import::ImportStage::Duplicates => eprintln!("正在查重……"),
                        import::ImportStage::Writing => eprintln!("已写入 {done} / {total} 人……"),
                    }
                });
            let out = app
                .import_people_file(
                    &Actor::console(),
                    &region,
                    std::sync::Arc::new(bytes),
                    &name,
                    only_valid,
                    Some(progress),
                )
                .await?;
            for w in &out.warnings {
                println!("提醒：{w}");
            }
            const SHOWN: usize = 100;
            for e in out.errors.iter().take(SHOWN) {
                println!("第 {} 行 {}：{}", e.row, e.column, e.rule);
            }
            if out.errors.len() > SHOWN {
                println!("……另有 {} 个问题，见错误报告", out.errors.len() - SHOWN);
            }
            if !out.errors.is_empty() {
                let report = file.with_file_name(format!(
                    "{}.错误报告.xlsx",
                    file.file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ));
                std::fs::write(&report, import::error_report_xlsx(&out.errors)?)
                    .with_context(|| format!("无法写入 {}", report.display()))?;
                println!("错误报告已写入 {}", report.display());
            }
            match out.summary {
                Some(s) => {
                    println!(
                        "导入完成（{:.1} 秒）：共 {} 行，导入 {} 人，新建 {} 套房屋、{} 户，标签 {} 个；跳过有问题的 {} 行。",
                        started.elapsed().as_secs_f64(),
                        out.total_rows,
                        s.persons,
                        s.dwellings,
                        s.households,
                        s.tags,
                        out.skipped_rows
                    );
                    Ok(())
                }
                None => anyhow::bail!(
                    "未导入任何人员：共 {} 行，其中 {} 行有问题{}",
                    out.total_rows,
                    out.skipped_rows,
                    if only_valid {
                        ""
                    } else {
                        "（改正后重新导入，或加 --only-valid 只导入没有问题的行）"
                    }
                ),
            }
        }
    }
}
