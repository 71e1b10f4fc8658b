//! The conformance suite against canary-core's recording fake. It has no
//! validation, authentication or network, so the cases about those are
//! listed as not applicable (ignored, with the reason).

use executor_conformance::{FakeHarness, Harness};

fn fake() -> Result<Box<dyn Harness>, String> {
    Ok(Box::new(FakeHarness::new()))
}

executor_conformance::conformance_suite!(fake;
    attributes: [];
    applicable: [
        group_apps_reads_every_app_of_the_group,
        get_job_of_a_missing_job_is_none,
        create_job_then_get_job_reads_it_back,
        create_job_twice_conflicts,
        replace_job_changes_the_spec,
        replace_job_of_a_missing_job_is_not_found,
        start_run_shows_in_get_job_and_run_status,
        start_run_of_a_missing_job_is_not_found,
        stop_run_fails_the_run,
        stop_run_of_an_unknown_run_is_not_found,
        stop_run_of_a_missing_job_is_not_found,
        run_status_of_a_successful_run,
        run_status_of_a_failed_run,
        run_status_of_an_unknown_run_is_not_found,
        run_status_of_a_missing_job_is_not_found,
        get_job_reads_history_and_active_runs,
        group_apps_of_an_empty_group_is_empty,
        group_apps_picks_the_group_exactly_among_lookalikes,
        create_app_then_group_apps_reads_it,
        create_app_twice_conflicts,
        scale_app_changes_instances,
        scale_app_of_a_missing_app_is_not_found,
        delete_app_removes_it,
        delete_app_of_a_missing_app_is_not_found,
    ];
    not_applicable: [
        create_job_refused_as_invalid => "not applicable to the recording fake: it stores any spec as given",
        unauthenticated_is_an_auth_error => "not applicable to the recording fake: it has no authentication to refuse",
        unreachable_is_an_unreachable_error => "not applicable to the recording fake: it has no network to fail",
        create_job_retries_503s => "not applicable to the recording fake: it has no network to fail and does not retry",
        reads_retry_a_dropped_connection_and_a_502 => "not applicable to the recording fake: it has no network to fail and does not retry",
        a_lasting_503_is_unreachable_after_the_attempts => "not applicable to the recording fake: it has no network to fail and does not retry",
        start_run_retries_a_503 => "not applicable to the recording fake: it has no network to fail and does not retry",
        start_run_meeting_a_502_is_not_repeated => "not applicable to the recording fake: it has no network to fail and does not retry",
        stop_run_retries_a_502 => "not applicable to the recording fake: it has no network to fail and does not retry",
        create_app_refused_as_invalid => "not applicable to the recording fake: it stores any app as given",
        kill_tasks_scales_down => "not applicable to the recording fake: it runs no tasks",
        a_scale_meeting_a_deployment_lock_is_retried => "not applicable to the recording fake: it has no deployments to lock an app and does not retry",
    ];
);
