//! The tools, one module per kind of work. Each module's `#[tool_router]` block adds its
//! router to the server's (see `Server::new`).

mod files;
mod operator;
mod sessions;
mod work;
