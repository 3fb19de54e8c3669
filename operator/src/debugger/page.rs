//! The debugger page, rendered on the server: the whole page once, then each section's HTML
//! again on every live update. Every value is HTML-escaped ([`esc`]).

use std::fmt::Write;

use crate::dlq::iso;

use super::State;

/// The sections a live update replaces, by element id.
pub const SECTIONS: [&str; 4] = ["stages", "events", "rejections", "letters"];

/// Escape text for HTML element content and quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn age(now_ms: i64, then_ms: i64) -> String {
    let s = (now_ms - then_ms).max(0) as f64 / 1000.0;
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// Render one section by id.
pub fn section(id: &str, state: &State, token: &str, now_ms: i64) -> String {
    match id {
        "stages" => stages(state, now_ms),
        "events" => events(state),
        "rejections" => rejections(state),
        "letters" => letters(state, token),
        _ => String::new(),
    }
}

fn stages(state: &State, now_ms: i64) -> String {
    let mut out = String::from(
        "<table><tr><th>stage</th><th>input topic</th><th>lag (messages not committed)</th><th>newest record on its input</th><th>freshness (its age)</th></tr>",
    );
    for row in &state.stages {
        let lag = match &row.lag {
            None => "measuring…".to_string(),
            Some(Ok(n)) => n.to_string(),
            Some(Err(e)) => format!("unknown: {e}"),
        };
        let (newest, fresh) = match state.newest.get(&row.topic) {
            Some(&ms) => (iso(ms), age(now_ms, ms)),
            None => ("none yet".into(), "-".into()),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td class=num>{}</td><td>{}</td><td class=num>{}</td></tr>",
            row.stage,
            esc(&row.topic),
            esc(&lag),
            newest,
            fresh
        );
    }
    out.push_str("</table>");
    out
}

fn events(state: &State) -> String {
    if state.streams.is_empty() {
        return "<p class=empty>No event yet. Send one (python3 scripts/send_samples.py GATEWAY_URL sends the documents' samples) and it shows here.</p>".into();
    }
    let mut out = String::new();
    for ((tenant, source), samples) in &state.streams {
        let _ = write!(
            out,
            "<section class=stream><h3>tenant <b>{}</b> · source <b>{}</b></h3><table class=pairs><tr><th>request as accepted</th><th>normalized row</th></tr>",
            esc(tenant),
            esc(source)
        );
        for sample in samples {
            let e = &sample.event;
            let accepted = match &sample.accepted {
                Some(a) => format!(
                    "<div class=meta>received {} · request {} · {}</div><pre>{}</pre>",
                    iso(a.received_at),
                    esc(&a.request_id),
                    esc(&a.content_type),
                    esc(&a.body)
                ),
                None => "<div class=meta>(its request was not sampled)</div>".into(),
            };
            let flags: String = e
                .time_flags
                .iter()
                .map(|f| format!("<span class=flag>{}</span>", esc(f)))
                .collect();
            let row = serde_json::to_string_pretty(e).unwrap_or_default();
            let _ = write!(
                out,
                "<tr class=event data-event-uid=\"{uid}\"><td>{accepted}</td><td><dl>\
                 <dt>event</dt><dd><b>{name}</b> #{index} <code>{id}</code></dd>\
                 <dt>event_uid</dt><dd><code>{uid}</code></dd>\
                 <dt>event_time</dt><dd>{time} {flags}</dd>\
                 <dt>user_key</dt><dd><code>{user_key}</code> <span class=kind>{kind}</span></dd></dl>\
                 <details><summary>whole row</summary><pre>{row}</pre></details></td></tr>",
                uid = esc(&e.event_uid),
                name = esc(&e.event_name),
                index = e.event_index,
                id = esc(e.event_id.as_deref().unwrap_or("-")),
                time = iso(e.event_time),
                user_key = esc(&e.user_key),
                kind = esc(&e.user_key_kind),
                row = esc(&row),
            );
        }
        out.push_str("</table></section>");
    }
    out
}

fn rejections(state: &State) -> String {
    if let Some(e) = &state.rejections_error {
        return format!("<p class=error>{}</p>", esc(e));
    }
    let list = &state.rejections;
    if list.is_empty() {
        return "<p class=empty>The gateway refused no request since it started.</p>".into();
    }
    let mut out = String::from(
        "<table><tr><th>time</th><th>family</th><th>path</th><th>status</th><th>reason (personal data masked)</th></tr>",
    );
    for r in list.iter().take(20) {
        let text = |k: &str| {
            r.get(k)
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default()
        };
        let at = r
            .get("at_ms")
            .and_then(|v| v.as_i64())
            .map(iso)
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr class=rejection><td>{}</td><td>{}</td><td><code>{}</code></td><td class=num>{}</td><td><code>{}</code></td></tr>",
            at,
            esc(&text("family")),
            esc(&text("path")),
            esc(&text("status")),
            esc(&text("reason"))
        );
    }
    out.push_str("</table>");
    out
}

fn letters(state: &State, token: &str) -> String {
    if state.letters.is_empty() {
        return "<p class=empty>No dead letter in the last records of the DLQ topic.</p>".into();
    }
    let mut out = String::from(
        "<table><tr><th>id</th><th>failed at</th><th>stage</th><th>reason</th><th>tenant</th><th>detail and original</th><th></th></tr>",
    );
    for letter in &state.letters {
        let r = &letter.record;
        let id = letter.id();
        let (_, original) = crate::dlq::original_as_sent(r);
        let original: String = original.chars().take(2000).collect();
        let action = match (state.replayed.get(&id), crate::dlq::replay_plan(letter)) {
            (Some(outcome), _) => format!("<span class=replayed>{}</span>", esc(outcome)),
            (None, Ok(_)) => format!(
                "<form method=post action=\"/dlq/replay?token={}\"><input type=hidden name=id value=\"{}\"><button type=submit>Replay</button></form>",
                esc(token),
                esc(&id)
            ),
            (None, Err(e)) => format!("<span class=meta>{}</span>", esc(&e.to_string())),
        };
        let _ = write!(
            out,
            "<tr class=letter data-letter=\"{id}\"><td><code>{id}</code></td><td>{}</td><td>{}</td><td><b>{}</b></td><td>{}</td><td>{}<details><summary>original</summary><pre>{}</pre></details></td><td>{action}</td></tr>",
            iso(r.failed_at),
            esc(&r.stage),
            esc(&r.reason),
            esc(r.tenant.as_deref().unwrap_or("-")),
            esc(&r.detail),
            esc(&original),
            id = esc(&id),
        );
    }
    out.push_str("</table>");
    out
}

/// The whole page: the sections as they are now, and the script that replaces them on each
/// server-sent `update` (a JSON object: section id → HTML).
pub fn page(state: &State, token: &str, now_ms: i64) -> String {
    let mut body = String::new();
    let titles = [
        ("stages", "Lag and freshness per stage"),
        ("events", "Last events per tenant and source"),
        ("rejections", "Last rejected requests"),
        ("letters", "Dead letters"),
    ];
    for (id, title) in titles {
        let _ = write!(
            body,
            "<h2>{title}</h2><div id={id}>{}</div>",
            section(id, state, token, now_ms)
        );
    }
    format!(
        r#"<!doctype html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
<title>Tributary events debugger</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1rem 2rem; color: #1d2330; background: #f7f8fa; }}
h1 {{ font-size: 1.3rem; margin: 0 0 .2rem; }} h2 {{ font-size: 1.1rem; margin: 1.4rem 0 .4rem; border-bottom: 1px solid #ccd; }}
h3 {{ font-size: 1rem; margin: .8rem 0 .3rem; font-weight: normal; }}
table {{ border-collapse: collapse; width: 100%; background: #fff; }}
th, td {{ border: 1px solid #dde; padding: .25rem .45rem; text-align: left; vertical-align: top; }}
th {{ background: #eef0f4; font-weight: 600; }} td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
table.pairs td {{ width: 50%; }}
pre {{ margin: 0; max-height: 9rem; overflow: auto; font-size: 12px; background: #f3f4f7; padding: .3rem; white-space: pre-wrap; word-break: break-all; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: .1rem .6rem; margin: 0; }} dt {{ color: #667; }} dd {{ margin: 0; }}
.flag, .kind {{ display: inline-block; padding: 0 .35rem; border-radius: .6rem; background: #fde7c7; font-size: 12px; }}
.kind {{ background: #d9ecff; }} .meta, .empty {{ color: #667; font-size: 12px; }} .error {{ color: #a11; }}
.replayed {{ color: #176d2c; font-weight: 600; }} #live {{ font-size: 12px; color: #667; }}
button {{ cursor: pointer; }}
</style></head>
<body><h1>Tributary events debugger</h1><div id=live>connecting…</div>
{body}
<script>
const source = new EventSource('/stream' + location.search);
source.addEventListener('update', (message) => {{
  const sections = JSON.parse(message.data);
  for (const id in sections) document.getElementById(id).innerHTML = sections[id];
  document.getElementById('live').textContent = 'live · updated ' + new Date().toLocaleTimeString();
}});
source.onerror = () => {{ document.getElementById('live').textContent = 'disconnected; retrying…'; }};
</script></body></html>
"#
    )
}

/// The answer without the token.
pub fn refused() -> &'static str {
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Admin token required</title></head>\
     <body><h1>Admin token required</h1><p>This page shows events and needs the admin token: open the URL \
     <code>scripts/run.sh</code> printed (it ends in <code>?token=…</code>), or send \
     <code>Authorization: Bearer TOKEN</code>.</p></body></html>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        let state = State {
            rejections: vec![serde_json::json!({"reason": "<img src=x>", "status": 400})],
            ..Default::default()
        };
        let html = section("rejections", &state, "t", 0);
        assert!(html.contains("&lt;img src=x&gt;"), "{html}");
        assert!(!html.contains("<img"));
    }
}
