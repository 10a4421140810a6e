//! Robustness of the exposition parser on mutated real pages and random input: it must never
//! panic, and every error must point at a line that exists. (A dependency-free mutation fuzzer:
//! cargo-fuzz needs a nightly toolchain this project does not require.)

use continuum_telemetry::etcd::EtcdSnapshot;
use continuum_telemetry::exposition;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PAGE: &str = include_str!("fixtures/etcd-3.6.16.prom");
const ALPHABET: &[u8] = b"{}=\",\\\n #abc_:019.+-eENaIf\t\xc3\xbc";

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(v.len());
        match rng.below(4) {
            0 => v[at] = ALPHABET[rng.below(ALPHABET.len())],
            1 => v.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            2 => {
                v.remove(at);
            }
            _ => v.truncate(at),
        }
        if v.is_empty() {
            break;
        }
    }
    v
}

#[test]
fn mutated_real_pages_never_panic_and_errors_name_a_real_line() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Slices of the real page keep each iteration cheap.
    let lines: Vec<&str> = PAGE.lines().collect();
    let mut errors = 0;
    for _ in 0..20_000 {
        let start = rng.below(lines.len());
        let chunk = lines[start..(start + 40).min(lines.len())].join("\n");
        let bytes = mutate(&mut rng, chunk.as_bytes());
        let text = String::from_utf8_lossy(&bytes);
        match exposition::parse(&text) {
            Ok(samples) => assert!(samples.len() <= text.lines().count()),
            Err(e) => {
                errors += 1;
                assert!(e.line >= 1 && e.line <= text.lines().count(), "{e} for {text:?}");
            }
        }
        let _ = EtcdSnapshot::parse(&text, 0);
    }
    assert!(errors > 1_000, "mutations should break many pages, broke {errors}");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect();
        let _ = exposition::parse(&String::from_utf8_lossy(&bytes));
    }
}
