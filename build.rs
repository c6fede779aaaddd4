//! Embeds every template under `templates/` in the binary (minijinja-embed), so a
//! release runs from any directory and in the container without the source tree.
fn main() {
    minijinja_embed::embed_templates!("templates", &[".j2", ".html"]);
}
