#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_jwt_auth_fuzz::dpop(data));
