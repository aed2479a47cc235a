//! Starts the app: the panic hook (so a panic is readable in the console) and the mount.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(|| leptos::view! { <casedesk::App /> });
}
