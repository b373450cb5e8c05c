//! The web interface (issue 6): the rules that turn TemplatePlugin
//! configurations into injected components.

pub mod injection;
