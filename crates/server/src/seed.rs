//! `jinlin demo`: fills an empty database with the demo county and its residents and prints
//! its logins.

use anyhow::Context;
use jinlin_app::App;
use jinlin_app::demo::{self, DEMO_PASSWORD};

/// The county, its accounts and cases, straight into the store: before the app starts, so the
/// app's grid index, routes and categories are loaded from what was seeded.
pub async fn county(store: &jinlin_store::Store) -> anyhow::Result<()> {
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
    Ok(())
}

/// The residents (through the app, which encrypts their numbers), then the logins.
pub async fn demo(app: &App) -> anyhow::Result<()> {
    let now = app.now();
    let store = &app.store;
    let county = demo::demo_county();
    let started = std::time::Instant::now();
    if let Some(seeded) = demo::seed_people(app, &county, now)
        .await
        .context("写入演示人口失败")?
    {
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            persons = seeded.persons,
            households = seeded.households,
            dwellings = seeded.dwellings,
            "demo residents created"
        );
    }
    let (persons, households) = store
        .people_counts("/")
        .await
        .context("读取实有人口数失败")?;
    println!("──────────────────────────────────────────────");
    println!(" 近邻 演示县区（仅供演示，切勿用于生产）");
    println!(" 所有演示账号的密码：{DEMO_PASSWORD}");
    for (username, role, region) in demo::demo_logins(&county) {
        println!("   {username:<10} {:<8} {region}", role.zh());
    }
    println!(" 实有人口：{persons} 人，{households} 户");
    println!("──────────────────────────────────────────────");
    Ok(())
}
