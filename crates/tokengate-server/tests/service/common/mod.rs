//! The harness: a scratch directory, the real `tokengate` binary started on
//! 127.0.0.1:0, an HTTP client that refuses any 5xx, and the admin CLI; a
//! PostgreSQL database and a Redis key prefix of a test's own.

mod api;
mod binary;
mod cli;
mod dir;
mod jwt;
mod postgres;
mod redis;
mod resp;
mod server;
mod stdout;
mod unique;
mod wait;

pub(crate) use self::api::{Api, Pair, pair};
pub(crate) use self::cli::{cli, cli_with_env};
pub(crate) use self::dir::TestDir;
pub(crate) use self::jwt::{claims, jwt_part};
pub(crate) use self::postgres::PgDatabase;
pub(crate) use self::redis::RedisPrefix;
pub(crate) use self::resp::{Resp, SetCookie};
pub(crate) use self::server::{Server, free_port};
pub(crate) use self::stdout::first_line;
pub(crate) use self::wait::eventually;
