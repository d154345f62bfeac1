//! `berth token create|list|revoke`: API tokens of `berth serve`.

use crate::commands::Ctx;
use crate::exit::{self, CliError};
use crate::output::Style;
use crate::serve::tokens::{Role, TokenInfo, Tokens};
use crate::time::rfc3339;
use std::time::Duration;

/// Reads `90s`, `15m`, `12h`, `30d` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 15m, 12h or 30d"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3_600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .filter(|&s| s > 0)
    .ok_or_else(|| format!("{s:?} is not a positive duration like 90s, 15m, 12h or 30d"))?;
    Ok(Duration::from_secs(secs))
}

/// `berth token create`.
pub async fn create(
    ctx: &Ctx,
    name: &str,
    role: Role,
    expires_in: Option<Duration>,
) -> Result<u8, CliError> {
    let store = ctx.store().await?;
    let (record, secret) = Tokens::new(&store)?.create(name, role, expires_in).await?;
    if ctx.out.json {
        let mut v = serde_json::json!(TokenInfo::from(&record));
        v["token"] = secret.0.into();
        ctx.out.json_line(&v);
    } else {
        ctx.out.line(format!(
            "created {} token {} for {}",
            record.role,
            ctx.out.paint(Style::Cyan, &record.id),
            record.name
        ));
        ctx.out
            .line(format!("  {}", ctx.out.paint(Style::Bold, &secret.0)));
        ctx.out.line(
            "  it is shown only now (the store keeps its hash); send it as `Authorization: Bearer <token>`",
        );
        if let Some(t) = record.expires_at {
            ctx.out.line(format!("  expires {}", rfc3339(t)));
        }
    }
    Ok(exit::OK)
}

/// `berth token list`.
pub async fn list(ctx: &Ctx) -> Result<u8, CliError> {
    let store = ctx.store().await?;
    let all = Tokens::new(&store)?.list().await?;
    if ctx.out.json {
        let infos: Vec<TokenInfo> = all.iter().map(TokenInfo::from).collect();
        ctx.out.json_line(&infos);
        return Ok(exit::OK);
    }
    if all.is_empty() {
        ctx.out
            .line("no tokens; create one with `berth token create --name NAME --role viewer`");
        return Ok(exit::OK);
    }
    let now = store.clock().now();
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|t| {
            let state = match (t.revoked_at, t.expires_at) {
                (Some(_), _) => ctx.out.paint(Style::Red, "revoked"),
                (None, Some(e)) if e <= now => ctx.out.paint(Style::Red, "expired"),
                _ => ctx.out.paint(Style::Green, "active"),
            };
            vec![
                t.id.clone(),
                t.name.clone(),
                t.role.to_string(),
                state,
                rfc3339(t.created_at),
                t.expires_at.map_or_else(|| "never".into(), rfc3339),
            ]
        })
        .collect();
    ctx.out.table(
        &["ID", "NAME", "ROLE", "STATE", "CREATED", "EXPIRES"],
        &rows,
    );
    Ok(exit::OK)
}

/// `berth token revoke ID`.
pub async fn revoke(ctx: &Ctx, id: &str) -> Result<u8, CliError> {
    let store = ctx.store().await?;
    match Tokens::new(&store)?.revoke(id).await? {
        Some(t) => {
            if ctx.out.json {
                ctx.out.json_line(&TokenInfo::from(&t));
            } else {
                ctx.out
                    .line(format!("token {} of {} is revoked", t.id, t.name));
            }
            Ok(exit::OK)
        }
        None => Err(CliError::other(
            format!("token {id} not found"),
            "list tokens with `berth token list`",
            exit::NOT_FOUND,
        )),
    }
}

/// Runs a `berth token` subcommand.
pub async fn dispatch(ctx: &Ctx, command: &crate::args::TokenCommand) -> Result<u8, CliError> {
    use crate::args::TokenCommand;
    match command {
        TokenCommand::Create {
            name,
            role,
            expires_in,
        } => create(ctx, name, *role, *expires_in).await,
        TokenCommand::List => list(ctx).await,
        TokenCommand::Revoke { id } => revoke(ctx, id).await,
    }
}
