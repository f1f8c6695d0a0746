//! Cron expressions as the job scheduler reads them: validated at load and parsed by the
//! scheduler with the same options.

/// A 6-field cron expression (seconds first), parsed by `croner` with the options the
/// scheduler (tokio-cron-scheduler) uses, so what passes here is what the scheduler runs.
pub fn check_cron(expr: &str) -> Result<(), String> {
    parse_cron(expr).map(|_| ())
}

/// Parse a 6-field cron expression the way the scheduler does.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    let fields = expr.split_whitespace().count();
    if fields != 6 {
        return Err(format!(
            "`{expr}` has {fields} fields; write 6 (sec min hour day month weekday), e.g. `0 */5 * * * *`"
        ));
    }
    // croner takes a stray comma (`0 0 , 31 * *`) as a field that matches nothing, and the
    // search for its next run then spins for seconds (found by the `cron` fuzz target).
    if expr.split_whitespace().any(|field| field.split(',').any(str::is_empty)) {
        return Err(format!("`{expr}` has an empty item in a list (a stray comma)"));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))
}
