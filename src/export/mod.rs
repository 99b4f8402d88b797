//! Read-outs for analysts: campaign reports as text, JSON and a self-contained HTML page.

pub mod html;
pub mod report;
