//! Writes `examples/school/`: the legacy SQLite database of a course platform and the
//! Parquet files of its migrated target, with a known set of injected differences.
//!
//! The data is deterministic (a fixed linear congruential generator), so running this
//! again writes the same values. The files are committed; run it only to change them:
//!
//! ```text
//! cargo run --example make_school
//! ```
//!
//! The story (documented in examples/school/README.md): a Python + SQLite service was
//! rewritten in Rust + PostgreSQL. Users, courses and submissions were re-keyed with
//! UUIDs (the target keeps `legacy_id` columns and a `legacy_user_map`), `full_name`
//! became `display_name`, submission feedback moved to its own table, local text
//! timestamps (Europe/Berlin) became UTC timestamps, REAL scores became decimals, ''
//! became NULL, JSON answers were re-serialised with sorted keys, and course states
//! `A`/`D` became `active`/`deleted`.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::{NaiveDateTime, TimeZone};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// A tiny deterministic generator.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A UUID-looking id derived from a kind and a number (stable across runs).
fn uuid(kind: u8, n: i64) -> String {
    let x = xxhash_rust::xxh3::xxh3_128(&[&[kind][..], &n.to_le_bytes()].concat());
    let h = format!("{x:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

const FIRST: [&str; 12] = [
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret",
    "Niklaus", "Radia", "Ken",
];
const LAST: [&str; 10] = [
    "Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Hamilton",
    "Wirth",
];
const TITLES: [&str; 8] = [
    "Databases",
    "Compilers",
    "Operating Systems",
    "Networks",
    "Algorithms",
    "Type Theory",
    "Distributed Systems",
    "Cryptography",
];

struct User {
    id: i64,
    email: String,
    name: String,
    created: NaiveDateTime,
    teacher: bool,
    bio: String,
}

struct Course {
    id: i64,
    title: String,
    teacher: i64,
    active: bool,
    price: f64,
}

struct Submission {
    id: i64,
    user: i64,
    course: i64,
    score: f64,
    at: NaiveDateTime,
    feedback: String,
    answers: String,
}

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(h, min, 0)
        .unwrap()
}

/// Berlin wall time to a UTC instant (earlier instant when ambiguous), in microseconds.
fn berlin_to_utc(t: NaiveDateTime) -> i64 {
    chrono_tz::Europe::Berlin
        .from_local_datetime(&t)
        .earliest()
        .expect("no generated time falls in a DST gap")
        .timestamp_micros()
}

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/school");
    std::fs::create_dir_all(out.join("target")).unwrap();
    let mut rng = Lcg(20261122);

    let users: Vec<User> = (1..=60)
        .map(|id| {
            let first = FIRST[rng.below(FIRST.len() as u64) as usize];
            let last = LAST[rng.below(LAST.len() as u64) as usize];
            let day = 1 + rng.below(28) as u32;
            let month = 1 + rng.below(12) as u32;
            User {
                id,
                email: format!(
                    "{}.{}{}@school.example",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    id
                ),
                name: format!("{first} {last}"),
                created: local(2023, month, day, rng.below(24) as u32, rng.below(60) as u32),
                teacher: id % 10 == 0,
                bio: if rng.below(3) == 0 {
                    String::new()
                } else {
                    format!("Student of {}", TITLES[(id % 8) as usize])
                },
            }
        })
        .collect();
    let courses: Vec<Course> = (1..=8)
        .map(|id| Course {
            id,
            title: TITLES[(id - 1) as usize].to_string(),
            teacher: 10 * ((id - 1) % 6 + 1),
            active: id != 6,
            price: [0.0, 19.99, 49.5, 99.0][(id % 4) as usize],
        })
        .collect();
    let mut subs: Vec<Submission> = Vec::new();
    for id in 1..=400 {
        let month = 1 + (id % 12) as u32;
        // Some submissions fall on the night clocks went back (2024-10-27, 02:00-03:00 twice).
        let at = if id % 97 == 0 {
            local(2024, 10, 27, 2, (id % 60) as u32)
        } else {
            local(
                2024,
                month,
                1 + rng.below(28) as u32,
                rng.below(24) as u32,
                rng.below(60) as u32,
            )
        };
        let q1 = rng.below(5);
        subs.push(Submission {
            id,
            user: 1 + rng.below(60) as i64,
            course: 1 + rng.below(8) as i64,
            score: (rng.below(2001) as f64) / 20.0,
            at,
            feedback: if id % 3 == 0 {
                format!("Well done on task {}", id % 7)
            } else {
                String::new()
            },
            answers: format!(
                "{{\"q2\": \"{}\", \"q1\": {q1}, \"meta\": {{\"v\": 2, \"lang\": \"en\"}}}}",
                ["a", "b", "c"][(id % 3) as usize]
            ),
        });
    }

    write_legacy(&out.join("legacy.db"), &users, &courses, &subs);
    write_target(&out.join("target"), &users, &courses, &subs);
    println!("wrote {}", out.display());
}

fn write_legacy(path: &Path, users: &[User], courses: &[Course], subs: &[Submission]) {
    let _ = std::fs::remove_file(path);
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, full_name TEXT, created_at TEXT, is_teacher INTEGER, bio TEXT);
         CREATE TABLE courses (id INTEGER PRIMARY KEY, title TEXT, teacher_id INTEGER REFERENCES users(id), status TEXT, price REAL);
         CREATE TABLE submissions (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), course_id INTEGER REFERENCES courses(id),
                                   score REAL, submitted_at TEXT, feedback TEXT, answers TEXT);
         CREATE INDEX submissions_user ON submissions(user_id);
         BEGIN;",
    )
    .unwrap();
    for u in users {
        c.execute(
            "INSERT INTO users VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                u.id,
                u.email,
                u.name,
                u.created.format("%Y-%m-%d %H:%M:%S").to_string(),
                u.teacher as i64,
                u.bio
            ],
        )
        .unwrap();
    }
    for k in courses {
        c.execute(
            "INSERT INTO courses VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                k.id,
                k.title,
                k.teacher,
                if k.active { "A" } else { "D" },
                k.price
            ],
        )
        .unwrap();
    }
    for s in subs {
        c.execute(
            "INSERT INTO submissions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                s.id,
                s.user,
                s.course,
                s.score,
                s.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                s.feedback,
                s.answers
            ],
        )
        .unwrap();
    }
    c.execute_batch("COMMIT; VACUUM;").unwrap();
}

fn write_parquet(path: &Path, batch: RecordBatch) {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn strings<I: IntoIterator<Item = Option<String>>>(v: I) -> ArrayRef {
    Arc::new(StringArray::from(v.into_iter().collect::<Vec<_>>()))
}

fn utc(v: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}

/// The injected differences: see examples/school/README.md.
fn write_target(dir: &Path, users: &[User], courses: &[Course], subs: &[Submission]) {
    let ts_utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    // users: email of legacy user 7 changed (a real difference); emails otherwise
    // upper-cased for users whose id is divisible by 5 (allowed: compared lower-cased).
    let email = |u: &User| {
        if u.id == 7 {
            "ada.changed7@school.example".to_string()
        } else if u.id % 5 == 0 {
            u.email.to_uppercase()
        } else {
            u.email.clone()
        }
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, false),
        Field::new("display_name", DataType::Utf8, true),
        Field::new("created_at", ts_utc.clone(), true),
        Field::new("is_teacher", DataType::Boolean, true),
        Field::new("bio", DataType::Utf8, true),
    ]));
    write_parquet(
        &dir.join("users.parquet"),
        RecordBatch::try_new(
            schema,
            vec![
                strings(users.iter().map(|u| Some(uuid(1, u.id)))),
                strings(users.iter().map(|u| Some(email(u)))),
                strings(users.iter().map(|u| Some(u.name.clone()))),
                utc(users.iter().map(|u| berlin_to_utc(u.created)).collect()),
                Arc::new(BooleanArray::from(
                    users.iter().map(|u| Some(u.teacher)).collect::<Vec<_>>(),
                )),
                strings(
                    users
                        .iter()
                        .map(|u| (!u.bio.is_empty()).then(|| u.bio.clone())),
                ),
            ],
        )
        .unwrap(),
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("legacy_id", DataType::Int64, false),
        Field::new("user_id", DataType::Utf8, false),
    ]));
    write_parquet(
        &dir.join("legacy_user_map.parquet"),
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(
                    users.iter().map(|u| u.id).collect::<Vec<_>>(),
                )),
                strings(users.iter().map(|u| Some(uuid(1, u.id)))),
            ],
        )
        .unwrap(),
    );
    // courses: the title of course 3 changed (a real difference).
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("legacy_id", DataType::Int64, false),
        Field::new("title", DataType::Utf8, true),
        Field::new("teacher_id", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("price", DataType::Decimal128(8, 2), true),
    ]));
    write_parquet(
        &dir.join("courses.parquet"),
        RecordBatch::try_new(
            schema,
            vec![
                strings(courses.iter().map(|k| Some(uuid(2, k.id)))),
                Arc::new(Int64Array::from(
                    courses.iter().map(|k| k.id).collect::<Vec<_>>(),
                )),
                strings(courses.iter().map(|k| {
                    Some(if k.id == 3 {
                        "Operating Systems II".into()
                    } else {
                        k.title.clone()
                    })
                })),
                strings(courses.iter().map(|k| Some(uuid(1, k.teacher)))),
                strings(
                    courses
                        .iter()
                        .map(|k| Some(if k.active { "active" } else { "deleted" }.to_string())),
                ),
                Arc::new(
                    Decimal128Array::from(
                        courses
                            .iter()
                            .map(|k| Some((k.price * 100.0).round() as i128))
                            .collect::<Vec<_>>(),
                    )
                    .with_precision_and_scale(8, 2)
                    .unwrap(),
                ),
            ],
        )
        .unwrap(),
    );
    // submissions: legacy 17 missing, legacy 9001 extra, legacy 42 score changed,
    // legacy 23 present twice (a duplicate key); feedback split into its own table.
    let mut rows: Vec<(String, i64, i64, i64, i128, i64, String)> = Vec::new();
    for s in subs {
        if s.id == 17 {
            continue;
        }
        let score = if s.id == 42 {
            8750
        } else {
            (s.score * 100.0).round() as i128
        };
        let answers: serde_json::Value = serde_json::from_str(&s.answers).unwrap();
        let row = (
            uuid(3, s.id),
            s.id,
            s.user,
            s.course,
            score,
            berlin_to_utc(s.at),
            serde_json::to_string(&answers).unwrap(),
        );
        if s.id == 23 {
            let mut dup = row.clone();
            dup.0 = uuid(3, 100_023);
            rows.push(dup);
        }
        rows.push(row);
    }
    rows.push((
        uuid(3, 9001),
        9001,
        5,
        2,
        6000,
        berlin_to_utc(local(2024, 6, 1, 12, 0)),
        "{\"q1\":1}".to_string(),
    ));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("legacy_id", DataType::Int64, false),
        Field::new("student_id", DataType::Utf8, false),
        Field::new("course_id", DataType::Utf8, false),
        Field::new("score", DataType::Decimal128(5, 2), true),
        Field::new("submitted_at", ts_utc, true),
        Field::new("answers", DataType::Utf8, true),
    ]));
    write_parquet(
        &dir.join("submissions.parquet"),
        RecordBatch::try_new(
            schema,
            vec![
                strings(rows.iter().map(|r| Some(r.0.clone()))),
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                strings(rows.iter().map(|r| Some(uuid(1, r.2)))),
                strings(rows.iter().map(|r| Some(uuid(2, r.3)))),
                Arc::new(
                    Decimal128Array::from(rows.iter().map(|r| Some(r.4)).collect::<Vec<_>>())
                        .with_precision_and_scale(5, 2)
                        .unwrap(),
                ),
                utc(rows.iter().map(|r| r.5).collect()),
                strings(rows.iter().map(|r| Some(r.6.clone()))),
            ],
        )
        .unwrap(),
    );
    let fb: Vec<&Submission> = subs
        .iter()
        .filter(|s| !s.feedback.is_empty() && s.id != 17)
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("submission_id", DataType::Utf8, false),
        Field::new("feedback", DataType::Utf8, false),
    ]));
    write_parquet(
        &dir.join("submission_feedback.parquet"),
        RecordBatch::try_new(
            schema,
            vec![
                strings(fb.iter().map(|s| Some(uuid(3, s.id)))),
                strings(fb.iter().map(|s| Some(s.feedback.clone()))),
            ],
        )
        .unwrap(),
    );
}
