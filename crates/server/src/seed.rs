//! `jinlin demo`: fills an empty database with the demo county and prints its logins.

use anyhow::Context;
use jinlin_app::demo::{self, DEMO_PASSWORD};
use jinlin_store::Store;

pub async fn demo(store: &Store) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    if demo::seed(store, now).await.context("写入演示数据失败")? {
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "demo county created"
        );
    }
    println!("──────────────────────────────────────────────");
    println!(" 近邻 演示县区（仅供演示，切勿用于生产）");
    println!(" 所有演示账号的密码：{DEMO_PASSWORD}");
    for (username, role, region) in demo::demo_logins(&demo::demo_county()) {
        println!("   {username:<10} {:<8} {region}", role.zh());
    }
    println!("──────────────────────────────────────────────");
    Ok(())
}
