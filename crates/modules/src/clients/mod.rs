//! Shared provider clients: every module that reads Wikidata, SEC EDGAR or the company's own
//! site goes through these files, so a resource is always asked for with the same URL (the
//! gateway's cache and single flight then catch repeats across modules), and a provider's
//! answer format is parsed in one place.

pub(crate) mod cite;
pub(crate) mod sec;
pub(crate) mod site;
pub(crate) mod wikidata;
