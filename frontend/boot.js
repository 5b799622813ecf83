// Starts the app: loads wasm-bindgen's glue and the wasm. A file of the build rather than an
// inline script, so the Content-Security-Policy's `script-src 'self'` covers it with no hash
// to keep in step. `cargo xtask frontend build` fills in the hashed names and hashes this file
// too (assets/boot-<hash>.js).
import init from "{{js}}";

init({ module_or_path: "{{wasm}}" }).catch((error) => {
  const boot = document.getElementById("boot");
  boot.textContent = "Faro could not start in this browser: " + error;
  boot.classList.add("boot-failed");
});
