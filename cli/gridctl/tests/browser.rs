//! The operator portal and a member's page in a real browser: headless Chromium, driven
//! over the DevTools protocol, signs in to a `gridctl demo --keep-running`, checks the
//! overview against the JSON API, sorts a table (the script runs under the CSP), opens a
//! producer's page and a period's, then signs in as a member by keyboard alone, and saves
//! screenshots under `target/` (desktop and phone width).
//!
//! `make test` installs Chromium (Debian package `chromium`) when it is missing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "browser-test-portal-token";

/// The first Chromium on PATH (or `$CHROMIUM`).
fn chromium() -> String {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return path;
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new("which").arg(name).output().is_ok_and(|o| o.status.success()) {
            return name.to_owned();
        }
    }
    panic!("Chromium is missing: `make test` installs it (Debian package chromium)")
}

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A DevTools connection attached to one page.
struct Page {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    next_id: u64,
    session: Option<String>,
}

impl Page {
    /// Presses a key (`Tab`, `Enter`) as the keyboard would, down and up.
    async fn press(&mut self, key: &str, code: u32) {
        let text = if key == "Enter" { "\r" } else { "" };
        for kind in ["keyDown", "keyUp"] {
            let event = json!({"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code, "text": text});
            self.call("Input.dispatchKeyEvent", event).await;
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        match self.try_call(method, params).await {
            Ok(result) => result,
            Err(error) => panic!("{method} failed: {error}"),
        }
    }

    /// The result of `method`, or the browser's error.
    async fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        self.ws.send(Message::text(message.to_string())).await.unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("the browser is connected")
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == id {
                return if answer["error"].is_null() {
                    Ok(answer["result"].clone())
                } else {
                    Err(answer["error"].clone())
                };
            }
        }
    }

    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}))
            .await;
        assert!(result["exceptionDetails"].is_null(), "{expression}: {}", result["exceptionDetails"]);
        result["result"]["value"].clone()
    }

    /// Waits until `condition` (a JavaScript expression) is true: up to a minute, since
    /// the machine may be busy with the rest of the suite.
    async fn wait_for(&mut self, condition: &str) {
        let evaluate = json!({"expression": condition, "returnByValue": true});
        for _ in 0..1_200 {
            // While the page navigates (after a click or a submit), the browser may answer
            // "Inspected target navigated or closed": not yet, ask again.
            if let Ok(result) = self.try_call("Runtime.evaluate", evaluate.clone()).await
                && result["result"]["value"] == json!(true)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let url = self.eval("location.href").await;
        panic!("never true: {condition} (at {url})")
    }

    async fn screenshot(&mut self, width: u32, name: &str) -> std::path::PathBuf {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}),
        )
        .await;
        let shot = self.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true})).await;
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_the_whole_grid_and_a_member_signs_in_by_keyboard_to_see_its_own() {
    // A traded grid to look at.
    let demo = Command::new(env!("CARGO_BIN_EXE_gridctl"))
        .args(["demo", "--keep-running", "--pace-ms", "0", "--periods", "3", "--listen", "127.0.0.1:0"])
        .env("PORTAL_TOKEN", TOKEN)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut demo = Killed(demo);
    let mut lines = BufReader::new(demo.0.stdout.take().unwrap()).lines();
    let portal_line = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("operator portal: "))
        .expect("the demo prints the portal");
    let member_line = lines.next().expect("the demo prints a member").unwrap();
    // Keep reading: a closed pipe would stop the demo at its next line.
    std::thread::spawn(move || lines.for_each(drop));
    // "a member's page: {base}/members (sign in as {id} with the side key {key}, …)"
    let words: Vec<&str> = member_line.split_whitespace().collect();
    let after = |word: &str| words.iter().position(|w| *w == word).map(|i| words[i + 1].trim_end_matches(',')).unwrap();
    let (member, member_key) = (after("as").to_owned(), after("key").to_owned());
    let portal = portal_line.split_whitespace().nth(2).unwrap().to_owned();
    assert!(portal.ends_with("/portal"), "{portal_line}");
    let base = portal.trim_end_matches("/portal").to_owned();

    // A fresh browser with a fresh profile, and its DevTools address.
    let profile = tempfile::tempdir().unwrap();
    let browser = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut browser = Killed(browser);
    let stderr = BufReader::new(browser.0.stderr.take().unwrap());
    let devtools = stderr
        .lines()
        .map(Result::unwrap)
        .find_map(|l| l.strip_prefix("DevTools listening on ").map(str::to_owned))
        .expect("Chromium prints its DevTools address");
    let (ws, _) = tokio_tungstenite::connect_async(devtools.as_str()).await.unwrap();
    let mut page = Page { ws, next_id: 0, session: None };
    let target = page.call("Target.createTarget", json!({"url": "about:blank"})).await;
    let attached = page.call("Target.attachToTarget", json!({"targetId": target["targetId"], "flatten": true})).await;
    page.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
    page.call("Page.enable", json!({})).await;

    // Signed out, the portal sends us to the login form; sign in there.
    page.call("Page.navigate", json!({"url": portal})).await;
    page.wait_for("location.pathname === '/portal/login' && document.readyState === 'complete'").await;
    page.eval(&format!(
        "document.querySelector('#token').value = '{TOKEN}'; document.querySelector('form.login').submit(); true"
    ))
    .await;
    page.wait_for("location.pathname === '/portal' && document.querySelector('[data-overview=\"paidIn\"]') !== null")
        .await;

    // The tiles say what the API says.
    let overview: Value = reqwest::Client::new()
        .get(format!("{base}/portal/api/overview"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tile = |key: &str| format!("document.querySelector('[data-overview=\"{key}\"]').textContent");
    assert_eq!(page.eval(&tile("paidIn")).await, json!(format!("{} IOTA", overview["paidIn"])));
    assert_eq!(page.eval(&tile("payouts")).await, json!(format!("{} IOTA", overview["payouts"])));
    assert_eq!(page.eval(&tile("producers")).await, json!(overview["producers"]["active"].to_string()));
    assert!(overview["paidIn"].as_u64().unwrap() > 0, "the demo traded");
    assert_eq!(page.eval("document.querySelectorAll('svg.chart').length").await, json!(5));
    // The community's tiles: the tariff in force now and the last period's own share.
    assert_eq!(page.eval(&tile("tariff")).await, json!(format!("{} IOTA/kWh", overview["capNow"])));
    assert!(page.eval(&tile("selfSufficiency")).await.as_str().unwrap().ends_with('%'));

    // The health strip is red exactly where the API says an alarm would fire, and the
    // script's refresh (under the CSP) paints it again the same way.
    let health = &overview["health"];
    let mut expected: Vec<String> = [
        ("settlementLag", health["settlementBehind"] == true),
        ("pollLag", health["pollingBehind"] == true),
        ("deadLetters", health["deadLetters"].as_u64() > Some(0)),
        ("batchesStalled", health["batchesStalled"].as_u64() > Some(0)),
    ]
    .into_iter()
    .filter(|(_, alarm)| *alarm)
    .map(|(key, _)| key.to_owned())
    .collect();
    for job in health["jobs"].as_array().unwrap() {
        if job["stopped"] == true {
            expected.push(format!("job-{}", job["job"].as_str().unwrap()));
        }
    }
    let alarms = "Array.from(document.querySelectorAll('[data-health]')).filter(li => li.className === 'alarm').map(li => li.dataset.health)";
    assert_eq!(page.eval(alarms).await, json!(expected), "{health}");
    assert_eq!(page.eval("document.querySelectorAll('[data-health]').length").await, json!(7));
    page.eval("for (const li of document.querySelectorAll('[data-health]')) li.className = 'alarm'; true").await;
    page.eval("refresh().then(() => true)").await;
    assert_eq!(page.eval(alarms).await, json!(expected), "repainted by the script");

    // The script runs under the CSP: sorting a column marks it.
    page.eval("document.querySelector('#producers thead th:nth-child(5) button').click(); true").await;
    page.wait_for(
        "document.querySelector('#producers thead th:nth-child(5)').getAttribute('aria-sort') === 'ascending'",
    )
    .await;
    let desktop = page.screenshot(1280, "portal-overview.png").await;
    // At phone width nothing but the tables' own scroll areas is wider than the screen.
    let phone = page.screenshot(390, "portal-phone.png").await;
    assert_eq!(page.eval("document.documentElement.scrollWidth <= window.innerWidth + 1").await, json!(true));

    // A producer's own page.
    page.eval("document.querySelector('a[href=\"/portal/registrations/producer-01\"]').click(); true").await;
    page.wait_for("location.pathname === '/portal/registrations/producer-01' && document.readyState === 'complete'")
        .await;
    let heading = page.eval("document.querySelector('h1').textContent").await;
    assert!(heading.as_str().unwrap().starts_with("producer-01"), "{heading}");
    assert!(page.eval("document.querySelectorAll('#readings tbody tr').length").await.as_u64().unwrap() > 0);
    let detail = page.screenshot(1280, "portal-producer.png").await;

    // A settled period's report: the market's figures, every party, the CSV.
    page.call("Page.navigate", json!({"url": format!("{base}/portal")})).await;
    page.wait_for("document.querySelector('#periods a') !== null").await;
    // The oldest listed: the demo's first period (the newest are the empty ones its grid
    // settled on the real clock after it).
    page.eval("[...document.querySelectorAll('#periods a')].at(-1).click(); true").await;
    page.wait_for("location.pathname.startsWith('/portal/periods/') && document.readyState === 'complete'").await;
    let heading = page.eval("document.querySelector('h1').textContent").await;
    assert!(heading.as_str().unwrap().starts_with("Period "), "{heading}");
    assert!(page.eval("document.querySelectorAll('#period-producers tbody tr').length").await.as_u64().unwrap() > 0);
    assert!(page.eval("document.querySelectorAll('#period-consumers tbody tr').length").await.as_u64().unwrap() > 0);
    assert_eq!(
        page.eval("document.querySelector('a[download]').getAttribute('href').endsWith('/report.csv')").await,
        json!(true)
    );
    let period = page.screenshot(1280, "portal-period.png").await;

    // A member's own page, signed in by keyboard alone: type the id, Tab, type the key,
    // Enter.
    page.call("Page.navigate", json!({"url": format!("{base}/members")})).await;
    page.wait_for("document.querySelector('#registrationId') !== null && document.readyState === 'complete'").await;
    page.eval("document.querySelector('#registrationId').focus(); true").await;
    page.call("Input.insertText", json!({"text": member})).await;
    page.press("Tab", 9).await;
    assert_eq!(page.eval("document.activeElement.id").await, json!("sideKey"), "Tab moves to the key");
    page.call("Input.insertText", json!({"text": member_key})).await;
    page.press("Enter", 13).await;
    page.wait_for("document.querySelector('svg.chart') !== null && document.readyState === 'complete'").await;
    let heading = page.eval("document.querySelector('h1').textContent").await;
    assert!(heading.as_str().unwrap().contains(&member), "{heading}");
    assert!(page.eval("document.querySelectorAll('#lines tbody tr').length").await.as_u64().unwrap() > 0);
    // The member's statement is its own: no other household's id on the page.
    let text = page.eval("document.body.textContent").await;
    assert!(!text.as_str().unwrap().contains("consumer-02"), "another member's figures");
    // The download, with the browser's session cookie (the page's CSP lets it fetch nothing).
    let link = page.eval("document.querySelector('a[download]').href").await;
    let cookies = page.call("Network.getCookies", json!({"urls": [format!("{base}/members")]})).await;
    let session = cookies["cookies"].as_array().unwrap().iter().find(|c| c["name"] == "grid_member").unwrap();
    let cookie = format!("grid_member={}", session["value"].as_str().unwrap());
    let csv = reqwest::Client::new().get(link.as_str().unwrap()).header("cookie", cookie).send().await.unwrap();
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("period_start_ms,kind,") && csv.lines().count() > 1, "{csv}");
    let member_desktop = page.screenshot(1280, "members.png").await;
    let member_phone = page.screenshot(390, "members-phone.png").await;
    assert_eq!(page.eval("document.documentElement.scrollWidth <= window.innerWidth + 1").await, json!(true));
    page.eval("document.querySelector('form[action=\"/members/logout\"] button').click(); true").await;
    page.wait_for("document.querySelector('#registrationId') !== null && document.readyState === 'complete'").await;
    for shot in [desktop, phone, detail, period, member_desktop, member_phone] {
        assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "{}", shot.display());
    }
}
