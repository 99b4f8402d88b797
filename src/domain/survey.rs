//! Survey answers: reading what people reply, and what a survey conversation does next.
//!
//! People answer a "0 to 10" question with "9", " 9/10", "nine", "nueve", "九", "I'd say 8"
//! or "９". [`read_answer`] accepts all of these and refuses what it cannot read with
//! certainty (two different numbers, no number at all), so a wrong score is never recorded:
//! the conversation asks once more instead ([`next_move`]).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::campaign::{Question, QuestionKind, Survey};
use super::outcome::Outcome;
use super::values::Channel;

/// A survey answer to record (see `Write::Response`).
#[derive(Clone, Debug, PartialEq)]
pub struct NewResponse {
    pub run_id: i64,
    pub campaign: String,
    pub contact_id: i64,
    pub attempt_id: i64,
    pub question: String,
    pub kind: QuestionKind,
    pub score: Option<i64>,
    pub answer: String,
    pub raw: String,
    pub channel: Channel,
    pub variant: Option<String>,
    pub answered_at: DateTime<Utc>,
}

/// A recorded answer: the current one for its (run, contact, question).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Response {
    pub question: String,
    pub kind: QuestionKind,
    pub score: Option<i64>,
    pub answer: String,
    pub raw: String,
    pub channel: Channel,
    /// How many answers were given (1 for the first; a later answer replaces it).
    pub revision: u32,
    pub first_answered_at: DateTime<Utc>,
    pub answered_at: DateTime<Utc>,
}

/// What a reply says about one question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "read", rename_all = "snake_case")]
pub enum Reading {
    /// A valid answer: the score (NPS, CSAT) and the normalised answer text.
    Answer { score: Option<i64>, answer: String },
    /// A number outside the question's scale (`15` to a 0-10 question).
    OutOfRange { number: i64 },
    /// Nothing that can be read as an answer.
    Unclear,
}

/// The scale of a scored question.
pub fn scale(kind: QuestionKind) -> Option<(i64, i64)> {
    match kind {
        QuestionKind::Nps => Some((0, 10)),
        QuestionKind::Csat => Some((1, 5)),
        QuestionKind::Choice | QuestionKind::Text => None,
    }
}

/// Reads a reply as an answer to `question`.
pub fn read_answer(question: &Question, text: &str) -> Reading {
    let t = text.trim();
    if t.is_empty() {
        return Reading::Unclear;
    }
    match question.kind {
        QuestionKind::Text => Reading::Answer {
            score: None,
            answer: t.to_string(),
        },
        QuestionKind::Choice => read_choice(&question.choices, t),
        QuestionKind::Nps | QuestionKind::Csat => {
            let (lo, hi) = scale(question.kind).expect("scored");
            match single_number(t, hi) {
                Some(n) if (lo..=hi).contains(&n) => Reading::Answer {
                    score: Some(n),
                    answer: n.to_string(),
                },
                Some(n) => Reading::OutOfRange { number: n },
                None => Reading::Unclear,
            }
        }
    }
}

/// A choice by its text (any case) or by its 1-based number.
fn read_choice(choices: &[String], t: &str) -> Reading {
    // A bare number is the choice's position, as the prompts and links number them, even
    // when a choice's own text is a number.
    let digits = t.trim_end_matches(['.', '!']).trim();
    if !digits.is_empty() && digits.chars().all(|c| digit(c).is_some()) {
        return match single_number(digits, choices.len() as i64) {
            Some(n) if n >= 1 && (n as usize) <= choices.len() => Reading::Answer {
                score: None,
                answer: choices[n as usize - 1].clone(),
            },
            Some(n) => Reading::OutOfRange { number: n },
            None => Reading::Unclear,
        };
    }
    let folded = t.to_lowercase();
    let folded = folded.trim_end_matches(['.', '!']).trim();
    match choices.iter().find(|c| c.to_lowercase() == folded) {
        Some(c) => Reading::Answer {
            score: None,
            answer: c.clone(),
        },
        None => Reading::Unclear,
    }
}

/// Number words of the languages herald's templates speak, 0 to 10.
const WORDS: &[(&str, i64)] = &[
    ("zero", 0),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("cero", 0),
    ("uno", 1),
    ("dos", 2),
    ("tres", 3),
    ("cuatro", 4),
    ("cinco", 5),
    ("seis", 6),
    ("siete", 7),
    ("ocho", 8),
    ("nueve", 9),
    ("diez", 10),
    ("deux", 2),
    ("trois", 3),
    ("quatre", 4),
    ("cinq", 5),
    ("sept", 7),
    ("huit", 8),
    ("neuf", 9),
    ("dix", 10),
    ("null", 0),
    ("eins", 1),
    ("zwei", 2),
    ("drei", 3),
    ("vier", 4),
    ("fünf", 5),
    ("sechs", 6),
    ("sieben", 7),
    ("acht", 8),
    ("neun", 9),
    ("zehn", 10),
    ("três", 3),
    ("quatro", 4),
    ("oito", 8),
    ("nove", 9),
    ("dez", 10),
];

/// The one number a reply gives, if it gives exactly one and says nothing else. A second
/// number that is the scale's maximum after `/`, "of", "out of", "de" or "sur" ("9/10",
/// "8 out of 10") is the scale, not a second answer. Digits may be ASCII or full-width;
/// words may be English, Spanish, French, German or Portuguese; Chinese numerals 零 to 十
/// are read too. Besides the number, a reply may hold only lead-ins such as "I'd say",
/// "my score is", "a" and a unit ("points", 分): "Called 3 times" or "一般" (so-so) are
/// not answers, so they are never recorded as scores.
pub fn single_number(text: &str, scale_max: i64) -> Option<i64> {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Num(i64),
        Scale,
        Filler,
        Other,
    }
    fn word_tok(word: &str) -> Tok {
        if is_scale_word(word) {
            Tok::Scale
        } else if let Some(v) = word_number(word) {
            Tok::Num(v)
        } else if FILLERS.contains(&word) {
            Tok::Filler
        } else {
            Tok::Other
        }
    }
    fn flush(word: &mut String, toks: &mut Vec<Tok>) {
        if !word.is_empty() {
            toks.push(word_tok(word));
            word.clear();
        }
    }
    let chars: Vec<char> = text.to_lowercase().chars().collect();
    let mut toks: Vec<Tok> = Vec::new();
    let mut word = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(d) = digit(c) {
            flush(&mut word, &mut toks);
            let mut n: i64 = d;
            let mut j = i + 1;
            while let Some(d) = chars.get(j).copied().and_then(digit) {
                n = n.saturating_mul(10).saturating_add(d);
                j += 1;
            }
            // "7.5" or "7,5" is not a whole answer.
            if matches!(chars.get(j), Some('.' | ','))
                && chars.get(j + 1).copied().and_then(digit).is_some()
            {
                return None;
            }
            toks.push(Tok::Num(n));
            i = j;
            continue;
        }
        if let Some(n) = chinese(&chars, &mut i) {
            flush(&mut word, &mut toks);
            toks.push(Tok::Num(n));
            continue;
        }
        if c == '/' || c == '／' {
            flush(&mut word, &mut toks);
            toks.push(Tok::Scale);
        } else if is_cjk(c) {
            flush(&mut word, &mut toks);
            // 分 ("points") may follow a score; any other character says something else.
            toks.push(if c == '分' { Tok::Filler } else { Tok::Other });
        } else if c.is_alphabetic() || c == '\'' || c == '’' {
            word.push(if c == '’' { '\'' } else { c });
        } else {
            flush(&mut word, &mut toks);
        }
        i += 1;
    }
    flush(&mut word, &mut toks);
    if toks.contains(&Tok::Other) {
        return None;
    }
    let mut nums: Vec<i64> = toks
        .iter()
        .filter_map(|t| match t {
            Tok::Num(n) => Some(*n),
            _ => None,
        })
        .collect();
    // "9/10", "8 out of 10": the last number, after a scale word, is the scale.
    if nums.len() == 2 && nums[1] == scale_max {
        let second = toks
            .iter()
            .rposition(|t| *t == Tok::Num(scale_max))
            .expect("present");
        if toks[..second].contains(&Tok::Scale) {
            nums.pop();
        }
    }
    match nums.as_slice() {
        [n] => Some(*n),
        _ => None,
    }
}

/// Words a score may come with ("I'd say 8", "my score is 9", "a 10", "8 points").
const FILLERS: &[&str] = &[
    "i", "i'd", "id", "d", "would", "say", "give", "it", "its", "it's", "a", "an", "is", "my",
    "score", "rating", "rate", "answer", "out", "points", "point", "pts", "yo", "je", "ich", "le",
    "la", "un", "une", "eine", "ein", "es", "c'est",
];

fn is_cjk(c: char) -> bool {
    ('\u{3000}'..='\u{9fff}').contains(&c) || ('\u{ff00}'..='\u{ffef}').contains(&c)
}

fn is_scale_word(w: &str) -> bool {
    matches!(w, "of" | "de" | "sur" | "von" | "outof")
}

fn word_number(w: &str) -> Option<i64> {
    WORDS.iter().find(|(k, _)| *k == w).map(|(_, v)| *v)
}

fn digit(c: char) -> Option<i64> {
    match c {
        '0'..='9' => Some(c as i64 - '0' as i64),
        '０'..='９' => Some(c as i64 - '０' as i64),
        _ => None,
    }
}

/// A Chinese numeral from 0 to 99 at `i` (零 〇 一 二 两 三 ... 十, 十一, 二十).
fn chinese(chars: &[char], i: &mut usize) -> Option<i64> {
    fn unit(c: char) -> Option<i64> {
        Some(match c {
            '零' | '〇' => 0,
            '一' => 1,
            '二' | '两' => 2,
            '三' => 3,
            '四' => 4,
            '五' => 5,
            '六' => 6,
            '七' => 7,
            '八' => 8,
            '九' => 9,
            _ => return None,
        })
    }
    let start = *i;
    let first = chars.get(start).copied()?;
    if first == '十' {
        *i += 1;
        let ones = chars.get(*i).copied().and_then(unit);
        if ones.is_some() {
            *i += 1;
        }
        return Some(10 + ones.unwrap_or(0));
    }
    let u = unit(first)?;
    *i += 1;
    if chars.get(*i) == Some(&'十') {
        *i += 1;
        let ones = chars.get(*i).copied().and_then(unit);
        if ones.is_some() {
            *i += 1;
        }
        return Some(u * 10 + ones.unwrap_or(0));
    }
    Some(u)
}

/// The outcome a scored answer is, for tag rules, step conditions and reports.
pub fn outcome_of(kind: QuestionKind, score: Option<i64>) -> Option<Outcome> {
    let s = score?;
    match kind {
        QuestionKind::Nps => Some(match s {
            9..=10 => Outcome::NpsPromoter,
            7..=8 => Outcome::NpsPassive,
            _ => Outcome::NpsDetractor,
        }),
        QuestionKind::Csat => Some(if s >= 4 {
            Outcome::CsatSatisfied
        } else {
            Outcome::CsatUnsatisfied
        }),
        QuestionKind::Choice | QuestionKind::Text => None,
    }
}

/// What a survey conversation does with a reply to `asked`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Move {
    /// Record the answer; then ask `next` if some question is still unanswered, or
    /// the survey is complete.
    Record {
        score: Option<i64>,
        answer: String,
        next: Option<String>,
        completes: bool,
    },
    /// The reply could not be read: ask this question once more.
    Clarify,
    /// The reply could not be read and the question was already asked again: record it
    /// as unreadable and stop asking.
    GiveUp,
}

/// The conversation's next move. `answered` are the questions with an answer already,
/// `clarified` says whether `asked` was already asked again.
pub fn next_move(
    survey: &Survey,
    asked: &Question,
    reply: &str,
    answered: &[String],
    clarified: bool,
) -> Move {
    match read_answer(asked, reply) {
        Reading::Answer { score, answer } => {
            let done = |q: &&Question| q.id == asked.id || answered.contains(&q.id);
            let next = survey
                .questions
                .iter()
                .skip_while(|q| q.id != asked.id)
                .find(|q| !done(q))
                .or_else(|| survey.questions.iter().find(|q| !done(q)))
                .map(|q| q.id.clone());
            let completes =
                next.is_none() && !survey.questions.iter().all(|q| answered.contains(&q.id));
            Move::Record {
                score,
                answer,
                next,
                completes,
            }
        }
        Reading::OutOfRange { .. } | Reading::Unclear if !clarified => Move::Clarify,
        _ => Move::GiveUp,
    }
}

/// The text of a question as sent in a follow-up message, with how to answer it.
pub fn prompt_text(question: &Question, clarify: bool) -> String {
    let how = match question.kind {
        QuestionKind::Nps => " Reply with a number from 0 to 10.".to_string(),
        QuestionKind::Csat => " Reply with a number from 1 to 5.".to_string(),
        QuestionKind::Choice => {
            let list: Vec<String> = question
                .choices
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{} {c}", i + 1))
                .collect();
            format!(" Reply with one of: {}.", list.join(", "))
        }
        QuestionKind::Text => String::new(),
    };
    if clarify {
        let again = question
            .reask
            .as_deref()
            .unwrap_or("Sorry, we could not read your answer.");
        format!("{again} {}{how}", question.text)
    } else {
        format!("{}{how}", question.text)
    }
}

/// A follow-up message's prompt as stored on its attempt: `ask:ID` or `clarify:ID`.
pub fn prompt_code(question: &str, clarify: bool) -> String {
    if clarify {
        format!("clarify:{question}")
    } else {
        format!("ask:{question}")
    }
}

/// The question a message asks: its prompt's, or the survey's first for a step's own
/// message.
pub fn asked_by<'a>(survey: &'a Survey, prompt: Option<&str>) -> Option<&'a Question> {
    let id = match prompt {
        None => return survey.questions.first(),
        Some(p) => p.split_once(':').map(|(_, q)| q)?,
    };
    survey.questions.iter().find(|q| q.id == id)
}

/// The question a reply answers, given the conversation's messages in order (`None` for
/// the step's own message, else each follow-up's prompt) and the questions answered so
/// far: the latest question asked that has no answer yet, else the latest asked (a later
/// answer to it replaces the earlier one).
pub fn reply_target<'a>(
    survey: &'a Survey,
    conversation: &[Option<&str>],
    answered: &[String],
) -> Option<&'a Question> {
    let asked: Vec<&Question> = conversation
        .iter()
        .filter_map(|p| asked_by(survey, *p))
        .collect();
    asked
        .iter()
        .rev()
        .find(|q| !answered.contains(&q.id))
        .or(asked.last())
        .copied()
        .or_else(|| survey.questions.first())
}

/// Does a step condition about survey answers (`nps_detractor`, `csat_satisfied`,
/// `survey_completed`...) hold for the answers as they are now? Other conditions hold.
pub fn condition_holds(survey: &Survey, answers: &[Response], condition: Outcome) -> bool {
    let class_of = |kind: QuestionKind| {
        let q = survey.questions.iter().find(|q| q.kind == kind)?;
        let r = answers.iter().find(|r| r.question == q.id)?;
        outcome_of(kind, r.score)
    };
    match condition {
        Outcome::NpsPromoter | Outcome::NpsPassive | Outcome::NpsDetractor => {
            class_of(QuestionKind::Nps) == Some(condition)
        }
        Outcome::CsatSatisfied | Outcome::CsatUnsatisfied => {
            class_of(QuestionKind::Csat) == Some(condition)
        }
        Outcome::SurveyCompleted => survey
            .questions
            .iter()
            .all(|q| answers.iter().any(|r| r.question == q.id)),
        _ => true,
    }
}

/// How long a one-click answer waits before it is applied, and the span within which
/// [`LINK_SCAN_ANSWERS`] different answers to one question mark a link scanner's sweep.
pub const LINK_SCAN_WINDOW: chrono::Duration = chrono::Duration::seconds(60);

/// Different answers to one question, by link, within the window, that make a sweep: a
/// person changes their mind once, a scanner follows every link.
pub const LINK_SCAN_ANSWERS: i64 = 3;

/// Attempt numbers of follow-up messages start here, so they never collide with the
/// step's own attempts and retries.
pub const FOLLOW_UP_BASE: u32 = 1000;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(kind: QuestionKind) -> Question {
        Question {
            id: "q".into(),
            kind,
            text: "How likely?".into(),
            choices: vec!["Yes".into(), "No".into(), "Maybe".into()],
            reask: None,
        }
    }

    fn nps(text: &str) -> Reading {
        read_answer(&q(QuestionKind::Nps), text)
    }

    fn score(n: i64) -> Reading {
        Reading::Answer {
            score: Some(n),
            answer: n.to_string(),
        }
    }

    #[test]
    fn nps_replies_are_read_in_the_forms_people_write_them() {
        for (text, n) in [
            ("9", 9),
            (" 9/10", 9),
            ("9 / 10", 9),
            ("nine", 9),
            ("Nine!", 9),
            ("nueve", 9),
            ("neuf", 9),
            ("九", 9),
            ("十", 10),
            ("９", 9),
            ("I'd say 8", 8),
            ("8 out of 10", 8),
            ("10/10", 10),
            ("0", 0),
            ("zero", 0),
            ("7 de 10", 7),
            ("3 sur 10", 3),
            ("10分", 10),
            ("九分", 9),
            ("My score is 7", 7),
            ("I’d give it a 9", 9),
            ("8 points", 8),
            ("10!", 10),
        ] {
            assert_eq!(nps(text), score(n), "{text}");
        }
    }

    #[test]
    fn replies_without_one_clear_number_are_unclear() {
        for text in [
            "abc",
            "",
            "  ",
            "7 or 8",
            "7.5",
            "ok thanks",
            "9 and 3",
            "一般",
            "一般般吧",
            "非常好，一定会推荐",
            "The best one I've used",
            "Es uno de los mejores",
            "Not a ten",
            "null Probleme",
            "Called 3 times, still broken",
            "10 10",
        ] {
            assert_eq!(nps(text), Reading::Unclear, "{text:?}");
        }
    }

    #[test]
    fn numbers_off_the_scale_are_out_of_range() {
        assert_eq!(nps("15"), Reading::OutOfRange { number: 15 });
        assert_eq!(nps("11"), Reading::OutOfRange { number: 11 });
        assert_eq!(
            read_answer(&q(QuestionKind::Csat), "0"),
            Reading::OutOfRange { number: 0 }
        );
        assert_eq!(read_answer(&q(QuestionKind::Csat), "4/5"), score(4));
    }

    #[test]
    fn choices_are_read_by_text_or_number() {
        let c = q(QuestionKind::Choice);
        let yes = |a: &str| Reading::Answer {
            score: None,
            answer: a.into(),
        };
        assert_eq!(read_answer(&c, "maybe"), yes("Maybe"));
        assert_eq!(read_answer(&c, "2"), yes("No"));
        assert_eq!(read_answer(&c, "4"), Reading::OutOfRange { number: 4 });
        assert_eq!(read_answer(&c, "perhaps"), Reading::Unclear);
        // Links and numbered prompts give positions, even when choices are numbers.
        let numeric = Question {
            choices: vec!["0".into(), "1".into(), "2+".into()],
            ..q(QuestionKind::Choice)
        };
        assert_eq!(read_answer(&numeric, "1"), yes("0"));
        assert_eq!(read_answer(&numeric, "2"), yes("1"));
        assert_eq!(read_answer(&numeric, "2+"), yes("2+"));
    }

    #[test]
    fn nps_classes_follow_the_standard_bands() {
        let o = |n| outcome_of(QuestionKind::Nps, Some(n)).unwrap();
        assert_eq!(o(10), Outcome::NpsPromoter);
        assert_eq!(o(9), Outcome::NpsPromoter);
        assert_eq!(o(8), Outcome::NpsPassive);
        assert_eq!(o(7), Outcome::NpsPassive);
        assert_eq!(o(6), Outcome::NpsDetractor);
        assert_eq!(o(0), Outcome::NpsDetractor);
        assert_eq!(
            outcome_of(QuestionKind::Csat, Some(4)),
            Some(Outcome::CsatSatisfied)
        );
        assert_eq!(
            outcome_of(QuestionKind::Csat, Some(3)),
            Some(Outcome::CsatUnsatisfied)
        );
    }

    fn two_questions() -> Survey {
        Survey {
            questions: vec![
                q(QuestionKind::Nps),
                Question {
                    id: "why".into(),
                    ..q(QuestionKind::Text)
                },
            ],
            deadline: None,
        }
    }

    #[test]
    fn an_answer_leads_to_the_next_question_then_completes_the_survey() {
        let s = two_questions();
        assert_eq!(
            next_move(&s, &s.questions[0], "9", &[], false),
            Move::Record {
                score: Some(9),
                answer: "9".into(),
                next: Some("why".into()),
                completes: false
            }
        );
        assert_eq!(
            next_move(&s, &s.questions[1], "fast", &["q".into()], false),
            Move::Record {
                score: None,
                answer: "fast".into(),
                next: None,
                completes: true
            }
        );
        // A late second answer replaces, asks nothing more and completes nothing again.
        assert_eq!(
            next_move(
                &s,
                &s.questions[1],
                "slow",
                &["q".into(), "why".into()],
                false
            ),
            Move::Record {
                score: None,
                answer: "slow".into(),
                next: None,
                completes: false
            }
        );
    }

    #[test]
    fn an_unreadable_answer_is_asked_again_once() {
        let s = two_questions();
        assert_eq!(
            next_move(&s, &s.questions[0], "abc", &[], false),
            Move::Clarify
        );
        assert_eq!(
            next_move(&s, &s.questions[0], "abc", &[], true),
            Move::GiveUp
        );
        assert_eq!(
            next_move(&s, &s.questions[0], "42", &[], false),
            Move::Clarify
        );
    }

    proptest! {
        #[test]
        fn every_score_on_the_scale_reads_back_as_itself(n in 0i64..=10, pad in "[ \\t]{0,3}") {
            prop_assert_eq!(nps(&format!("{pad}{n}{pad}")), score(n));
            prop_assert_eq!(nps(&format!("{n}/10")), score(n));
        }

        #[test]
        fn reading_never_panics_and_never_invents_an_out_of_scale_score(text in "\\PC{0,40}") {
            if let Reading::Answer { score: Some(s), .. } = nps(&text) {
                prop_assert!((0..=10).contains(&s));
            }
        }
    }
}
