#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cfgvault_fuzz::cold_decode(data));
