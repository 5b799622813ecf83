//! The enums MySQL stores as text (`VARCHAR`), bound and read as their wire names: the one
//! place a status or role column is turned into the type and back.

use crate::{OrgRole, ReleaseStatus, Role};
use sqlx::{
    Decode, Encode, MySql, Type,
    encode::IsNull,
    error::BoxDynError,
    mysql::{MySqlTypeInfo, MySqlValueRef},
};

/// Implements the column mapping of an enum with `as_str` and `parse -> Option<Self>`.
macro_rules! text_column {
    ($ty:ty, $what:literal) => {
        impl Type<MySql> for $ty {
            fn type_info() -> MySqlTypeInfo {
                <str as Type<MySql>>::type_info()
            }

            fn compatible(ty: &MySqlTypeInfo) -> bool {
                <str as Type<MySql>>::compatible(ty)
            }
        }

        impl Encode<'_, MySql> for $ty {
            fn encode_by_ref(&self, buf: &mut Vec<u8>) -> Result<IsNull, BoxDynError> {
                <&str as Encode<MySql>>::encode(self.as_str(), buf)
            }
        }

        impl Decode<'_, MySql> for $ty {
            fn decode(value: MySqlValueRef<'_>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<MySql>>::decode(value)?;
                <$ty>::parse(text).ok_or_else(|| format!("unknown {} {text:?}", $what).into())
            }
        }
    };
}

text_column!(ReleaseStatus, "release status");
text_column!(Role, "role");
text_column!(OrgRole, "organization role");
