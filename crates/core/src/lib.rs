//! casedesk's data layer as pure logic, with no browser types: everything here is driven by
//! events and an injected clock, so it is tested natively and runs unchanged in the browser.
