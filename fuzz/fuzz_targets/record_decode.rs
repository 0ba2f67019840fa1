#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cfgvault_fuzz::record_decode(data));
