//! The browser chat UI: its built assets at `/` (open routes) and the public
//! config it reads before anyone signs in, `GET /v1/config` (auth mode and the
//! Cognito Hosted UI to send people to).
//!
//! The assets are `web-client/dist/`, committed and embedded in the binary
//! with `include_bytes!`: `cargo run` on a fresh clone serves the UI without
//! Node, and a deployed binary needs no files beside it. `scripts/web-test`
//! rebuilds `dist/` from `web-client/src/` (esbuild gives the files fixed
//! names, so the list below never changes).

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::auth::TokenUse;
use crate::config::{AuthMode, Config};
use crate::state::AppState;

/// One embedded file of `web-client/dist/`.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $file:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/web-client/dist/",
                $file
            )),
        }
    };
}

/// The page first: it alone gets the content security policy.
static ASSETS: [Asset; 4] = [
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!(
        "/assets/app.js",
        "assets/app.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "/assets/app.css",
        "assets/app.css",
        "text/css; charset=utf-8"
    ),
    asset!("/favicon.svg", "favicon.svg", "image/svg+xml"),
];

/// A strong validator per asset (FNV-1a of its bytes), so reloads revalidate cheaply.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let hash = a.body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
            });
            HeaderValue::from_str(&format!("\"{hash:016x}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
        })
        .collect()
});

/// What the web client needs to know before sign-in.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebConfig {
    /// `dev` or `cognito`.
    pub auth: &'static str,
    /// The Cognito Hosted UI, when `--auth cognito` and `--cognito-domain` are set.
    pub cognito: Option<CognitoWeb>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CognitoWeb {
    /// Hosted UI base URL, e.g. `https://example.auth.us-east-1.amazoncognito.com`.
    pub domain: String,
    /// The app client the browser signs in with (public, no secret; PKCE).
    pub client_id: String,
    /// Where the Hosted UI returns; `null` means the page's own origin + `/`.
    pub redirect_uri: Option<String>,
    pub scopes: String,
    /// Which token the gateway accepts: `id`, `access` or `any`.
    pub token_use: &'static str,
}

impl WebConfig {
    pub fn from_config(config: &Config) -> Self {
        let cognito = match config.auth {
            AuthMode::Dev => None,
            AuthMode::Cognito => {
                let domain = config.cognito_domain.as_deref().map(str::trim);
                let client_id = config
                    .cognito_web_client_id
                    .clone()
                    .or_else(|| config.cognito_client_id.first().cloned())
                    .map(|c| c.trim().to_owned());
                match (domain, client_id) {
                    (Some(d), Some(client_id)) if !d.is_empty() && !client_id.is_empty() => {
                        Some(CognitoWeb {
                            domain: hosted_ui_base(d),
                            client_id,
                            redirect_uri: config
                                .cognito_redirect_uri
                                .clone()
                                .filter(|u| !u.trim().is_empty()),
                            scopes: config.cognito_scopes.trim().to_owned(),
                            token_use: match config.cognito_token_use {
                                TokenUse::Id => "id",
                                TokenUse::Access => "access",
                                TokenUse::Any => "any",
                            },
                        })
                    }
                    _ => None,
                }
            }
        };
        Self {
            auth: match config.auth {
                AuthMode::Dev => "dev",
                AuthMode::Cognito => "cognito",
            },
            cognito,
        }
    }

    /// The page's content security policy: same-origin everything, plus the
    /// Cognito token endpoint for `fetch`.
    fn csp(&self) -> String {
        let cognito = self
            .cognito
            .as_ref()
            .map(|c| format!(" {}", c.domain))
            .unwrap_or_default();
        format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'{cognito}; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        )
    }
}

/// `example.auth.us-east-1.amazoncognito.com` or a full URL → `https://…` without a trailing `/`.
fn hosted_ui_base(domain: &str) -> String {
    let d = domain.trim_end_matches('/');
    if d.starts_with("https://") || d.starts_with("http://") {
        d.to_owned()
    } else {
        format!("https://{d}")
    }
}

pub fn router() -> Router<AppState> {
    let mut router = Router::new().route("/v1/config", get(config));
    for (i, asset) in ASSETS.iter().enumerate() {
        router = router.route(
            asset.path,
            get(
                move |State(state): State<AppState>, headers: HeaderMap| async move {
                    serve(i, &state, &headers)
                },
            ),
        );
    }
    router
}

/// `GET /v1/config`: open, and the same for everyone.
async fn config(State(state): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(state.web.as_ref()),
    )
        .into_response()
}

fn serve(i: usize, state: &AppState, headers: &HeaderMap) -> Response {
    let (Some(asset), Some(etag)) = (ASSETS.get(i), ETAGS.get(i)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut res = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if i == 0 {
        if let Ok(csp) = HeaderValue::from_str(&state.web.csp()) {
            h.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_embedded_and_the_page_links_the_others() {
        let page = std::str::from_utf8(ASSETS[0].body).unwrap();
        for a in &ASSETS[1..] {
            assert!(!a.body.is_empty(), "{} is empty", a.path);
            assert!(page.contains(a.path), "index.html does not link {}", a.path);
        }
        for hook in [
            "login-user",
            "login-submit",
            "transport",
            "prompt",
            "send",
            "stop",
            "status",
        ] {
            assert!(page.contains(&format!("data-testid=\"{hook}\"")), "{hook}");
        }
    }

    #[test]
    fn hosted_ui_domain_becomes_an_https_base() {
        assert_eq!(
            hosted_ui_base("x.auth.us-east-1.amazoncognito.com/"),
            "https://x.auth.us-east-1.amazoncognito.com"
        );
        assert_eq!(
            hosted_ui_base("https://login.example.com"),
            "https://login.example.com"
        );
    }

    #[test]
    fn dev_mode_has_no_cognito_and_cognito_needs_a_domain() {
        let mut c = Config::local_defaults();
        let w = WebConfig::from_config(&c);
        assert_eq!(w.auth, "dev");
        assert!(w.cognito.is_none());
        c.auth = AuthMode::Cognito;
        c.cognito_client_id = vec!["abc".into(), "def".into()];
        assert!(WebConfig::from_config(&c).cognito.is_none());
        c.cognito_domain = Some("x.auth.eu-west-1.amazoncognito.com".into());
        let w = WebConfig::from_config(&c);
        let cognito = w.cognito.as_ref().unwrap();
        assert_eq!(cognito.client_id, "abc");
        assert_eq!(cognito.token_use, "any");
        assert!(
            w.csp()
                .contains("connect-src 'self' https://x.auth.eu-west-1.amazoncognito.com;")
        );
    }
}
