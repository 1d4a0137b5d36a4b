//! The state of an axum app that holds a gate.

use axum::extract::FromRef;
use tokengate::axum::TokenGate;

/// An app's state: the gate its extractors take with `FromRef`.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) gate: TokenGate,
}

impl FromRef<AppState> for TokenGate {
    fn from_ref(s: &AppState) -> TokenGate {
        s.gate.clone()
    }
}
