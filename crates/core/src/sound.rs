//! Pop-up sounds: six named sounds plus `none`. The server stores names; the
//! page plays them.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sound {
    #[default]
    Chime,
    Bell,
    Pop,
    Ding,
    Marimba,
    Knock,
    None,
}

impl Sound {
    pub const ALL: [Sound; 7] = [
        Sound::Chime,
        Sound::Bell,
        Sound::Pop,
        Sound::Ding,
        Sound::Marimba,
        Sound::Knock,
        Sound::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sound::Chime => "chime",
            Sound::Bell => "bell",
            Sound::Pop => "pop",
            Sound::Ding => "ding",
            Sound::Marimba => "marimba",
            Sound::Knock => "knock",
            Sound::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Sound> {
        Sound::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl fmt::Display for Sound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
