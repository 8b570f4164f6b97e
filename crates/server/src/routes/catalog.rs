//! The catalog, localized.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use varsel_core::Tab;
use varsel_core::catalog::TypeDef;
use varsel_core::model::Locale;

use crate::auth::{AnyCaller, Caller};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// `en`, `nb`, …; default: the user's locale, else the catalog's default.
    pub locale: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CatalogType {
    pub id: String,
    pub name: String,
    pub description: String,
    pub channels: Vec<Tab>,
    pub mandatory: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CatalogSection {
    pub id: String,
    pub name: String,
    pub types: Vec<CatalogType>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CatalogOut {
    pub locale: String,
    pub sections: Vec<CatalogSection>,
}

#[utoipa::path(get, path = "/v1/catalog", tag = "catalog", security(("api_key" = []), ("user_token" = [])),
    params(CatalogQuery), responses((status = 200, body = CatalogOut), (status = 401, body = ErrorBody)))]
pub async fn get_catalog(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiQuery(q): ApiQuery<CatalogQuery>,
) -> ApiResult<Json<CatalogOut>> {
    let c = &state.catalog;
    let wanted = match (q.locale, caller) {
        (Some(l), _) => l,
        (None, Caller::User { account, user }) => state
            .store
            .get_user(&account, &user)
            .await?
            .map(|u| u.locale)
            .unwrap_or_else(|| c.default_locale.clone()),
        (None, Caller::Server) => c.default_locale.clone(),
    };
    let locale = if c.locales.contains(&wanted) {
        wanted
    } else {
        c.default_locale.clone()
    };
    let loc = Locale(locale.clone());
    let text = |m| TypeDef::text(m, &loc, &c.default_locale).to_string();
    let sections = c
        .sections
        .iter()
        .map(|s| CatalogSection {
            id: s.id.clone(),
            name: text(&s.name),
            types: s
                .types
                .iter()
                .filter_map(|id| c.get(id))
                .map(|t| CatalogType {
                    id: t.id.clone(),
                    name: text(&t.name),
                    description: text(&t.description),
                    channels: t.channels.iter().copied().collect(),
                    mandatory: t.mandatory,
                })
                .collect(),
        })
        .collect();
    Ok(Json(CatalogOut { locale, sections }))
}
