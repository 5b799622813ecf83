//! Where a request came from, for audit records and per-address rate limits.

use crate::AppState;
use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};
use std::{convert::Infallible, net::SocketAddr};

#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The client's address: behind the ALB the last `X-Forwarded-For` hop (the one the ALB
    /// appended; earlier hops are the client's to forge), else the socket peer.
    pub ip: String,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .config
            .auth
            .trust_forwarded_for
            .then(|| {
                parts
                    .headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .rfind(|hop| hop.parse::<std::net::IpAddr>().is_ok())
                    .map(str::to_owned)
            })
            .flatten();
        let peer = || {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string())
                .unwrap_or_else(|| "unknown".into())
        };
        Ok(Self {
            ip: forwarded.unwrap_or_else(peer),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(200).collect()),
        })
    }
}
