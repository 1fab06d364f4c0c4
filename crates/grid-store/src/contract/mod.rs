//! The behaviour every adapter must show, written once and run against each.
//!
//! Each port has a module of async checks taking the port as a trait object, and a
//! macro that turns the whole list into named `#[tokio::test]`s for an adapter:
//!
//! ```text
//! async fn stores() -> (tempfile::TempDir, Arc<dyn RegistrationStore>) { … }
//! mod sqlite_registrations {
//!     grid_store::registration_store_contract!(super::stores);
//! }
//! ```
//!
//! The factory returns a guard (kept alive for the test, e.g. a temp dir or a table
//! prefix to drop) and a fresh, empty store. Every check uses its own ids, so
//! adapters may share a backend between tests as long as each factory call is fresh.

pub mod accounts;
pub mod activity;
pub mod channel_messages;
pub mod heartbeats;
pub mod items;
pub mod leases;
pub mod market;
#[cfg(feature = "aws")]
pub mod moto;
pub mod queue;
pub mod registrations;
pub mod sign_ins;

/// A time in the checks, epoch ms.
pub(crate) fn ms(ms: u64) -> grid_core::EpochMs {
    grid_core::EpochMs::try_from(ms).expect("a test time is within the range the grid holds")
}

/// Generates one `#[tokio::test]` per named check of a contract module.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests {
    ($module:ident, $factory:path, [$($name:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_guard, store) = $factory().await;
                $crate::contract::$module::$name(store).await;
            }
        )*
    };
}

/// Runs the [`RegistrationStore`](crate::RegistrationStore) contract against the
/// stores made by `$factory: async fn() -> (Guard, Arc<dyn RegistrationStore>)`.
#[macro_export]
macro_rules! registration_store_contract {
    ($factory:path) => {
        $crate::__contract_tests!(
            registrations,
            $factory,
            [
                an_inserted_registration_reads_back_at_version_one,
                getting_an_unknown_id_finds_nothing,
                inserting_an_existing_id_is_a_conflict_and_keeps_the_first,
                ids_that_differ_only_in_case_are_one_id,
                replacing_at_the_read_version_stores_the_change_and_bumps_the_version,
                replacing_at_a_stale_version_is_a_conflict_and_writes_nothing,
                replacing_a_missing_registration_is_a_conflict,
                a_removed_registration_keeps_its_record_and_its_id,
                of_two_concurrent_inserts_of_one_id_exactly_one_wins,
                of_two_concurrent_replaces_of_one_version_exactly_one_wins,
                listing_pages_through_every_registration_exactly_once,
                listing_an_empty_store_gives_an_empty_last_page,
                registrations_are_counted_and_paged_by_type_in_id_order,
                advancing_the_cursor_from_where_it_is_moves_it_and_bumps_the_version,
                advancing_from_a_stale_cursor_or_for_another_channel_is_a_conflict,
                of_two_workers_advancing_one_cursor_exactly_one_wins,
                getting_many_finds_the_ones_that_exist,
                return_channel_indexes_only_move_forward,
                a_channel_root_backs_one_registration_for_good,
                of_two_concurrent_registrations_of_one_root_exactly_one_wins,
            ]
        );
    };
}

/// Runs the [`ItemStore`](crate::ItemStore) contract against the stores made by
/// `$factory: async fn() -> (Guard, Arc<dyn ItemStore>)`.
#[macro_export]
macro_rules! item_store_contract {
    ($factory:path) => {
        $crate::__contract_tests!(
            items,
            $factory,
            [
                a_stored_item_reads_back_verbatim,
                putting_an_item_again_replaces_it,
                getting_a_missing_item_finds_nothing,
                deleting_an_item_says_whether_it_existed,
                deleting_a_context_removes_exactly_that_context,
                deleting_a_registration_removes_all_its_items_and_no_others,
                pages_split_a_context_in_id_order_with_its_total,
                a_page_past_the_end_is_empty_but_keeps_the_total,
                ids_that_share_a_prefix_stay_apart,
                pages_without_a_context_list_every_context_in_key_order,
                concurrent_puts_of_distinct_items_all_land,
                a_write_past_the_quota_is_refused_and_a_replacement_or_deletion_makes_room,
                a_page_lists_contexts_in_key_order_through_the_index,
            ]
        );
    };
}

/// Runs the [`ChannelMessageStore`](crate::ChannelMessageStore) contract against the ledgers made by
/// `$factory: async fn() -> (Guard, Arc<dyn ChannelMessageStore>)`.
#[macro_export]
macro_rules! channel_message_store_contract {
    ($factory:path) => {
        $crate::__contract_tests!(
            channel_messages,
            $factory,
            [
                an_attached_envelope_reads_back,
                an_address_is_write_once,
                a_missing_address_reads_as_nothing,
                getting_many_returns_exactly_the_stored_ones,
                of_concurrent_attaches_to_one_address_exactly_one_wins,
                attaching_many_stores_the_free_addresses_and_leaves_taken_ones,
                a_channel_is_unread_until_its_reader_reaches_its_head,
                a_channel_is_unread_since_its_reader_last_caught_up,
                unread_channels_come_a_page_at_a_time_each_once_in_root_order,
                a_channel_the_node_did_not_write_has_no_head,
                receiving_says_which_envelope_turned_its_channel_unread,
                an_envelope_too_far_past_its_channels_head_is_not_stored,
                marking_a_channel_read_says_whether_its_reader_is_still_behind,
                an_unclaimed_channel_takes_only_its_first_indexes_until_it_is_claimed,
                the_node_opens_only_so_many_unclaimed_channels_a_day,
                an_unclaimed_channel_expires_with_its_envelopes_and_a_claimed_one_never,
                a_root_is_claimed_once_and_a_producer_claims_at_most_its_limit,
            ]
        );
    };
}

/// Runs the [`MessageQueue`](crate::MessageQueue) contract against the queues made by
/// `$factory: async fn() -> (Guard, Arc<dyn MessageQueue>)`; each call must give an empty queue.
#[macro_export]
macro_rules! message_queue_contract {
    ($factory:path) => {
        $crate::__contract_tests!(
            queue,
            $factory,
            [
                every_sent_message_is_received_once_while_hidden,
                a_receive_takes_at_most_what_was_asked,
                an_unacknowledged_message_comes_back_after_its_timeout,
                an_acknowledged_message_never_comes_back,
                messages_acknowledged_together_never_come_back_and_the_rest_do,
                concurrent_receivers_get_every_message,
                a_message_never_acknowledged_goes_to_the_dead_letters_without_blocking_the_others,
            ]
        );
    };
}

/// Runs the contracts of the money engine's stores (readings and settlements, accounts,
/// leases, heartbeats, rejections: `market`, `accounts`, `leases`, `heartbeats`,
/// `activity`) against the stores made by `$factory: async fn() -> (Guard,
/// market::MarketStores)`.
#[macro_export]
macro_rules! market_contract {
    ($factory:path) => {
        $crate::__contract_tests!(
            market,
            $factory,
            [
                a_stored_reading_is_counted_in_its_period_exactly_as_stored,
                the_same_reading_twice_is_a_duplicate_and_the_first_is_kept,
                fresh_readings_are_stored_once_each_like_any_other,
                of_concurrent_inserts_of_one_reading_exactly_one_is_stored,
                a_periods_readings_page_through_each_once,
                a_periods_readings_are_summed_per_registration_kind_and_price_with_the_latest_address,
                periods_settle_in_order_and_a_closing_period_takes_no_reading,
                initializing_starts_the_history_at_the_earliest_until_a_period_closes,
                a_settlement_record_keeps_the_market_figures_and_the_largest_values_exactly,
                a_registrations_readings_come_newest_first_across_periods,
                readings_inserted_together_get_one_outcome_each,
            ]
        );
        $crate::__contract_tests!(
            accounts,
            $factory,
            [
                account_entries_apply_once_per_period,
                a_members_statement_lines_are_written_with_its_entries_and_read_by_range,
                a_payment_claim_is_pending_once_per_consumer_and_batch,
                a_verified_claim_pays_the_bill_and_funds_the_grid_once,
                a_payout_is_recorded_once_pays_each_period_to_its_address_and_settles_either_way,
                the_monitor_history_of_a_batch_decides_when_it_is_due_and_what_the_operator_sees,
                accounts_are_read_many_at_once,
            ]
        );
        $crate::__contract_tests!(leases, $factory, [a_lease_is_held_by_one_holder_until_it_expires_or_is_released]);
        $crate::__contract_tests!(
            heartbeats,
            $factory,
            [a_heartbeat_keeps_the_latest_run_of_each_job, every_jobs_report_reads_back_as_it_was_written]
        );
        $crate::__contract_tests!(
            activity,
            $factory,
            [rejections_are_kept_once_and_listed_newest_first_by_registration_and_for_all]
        );
    };
}

/// Runs the [`SignInLog`](crate::SignInLog) contract against the logs made by
/// `$factory: async fn() -> (Guard, Arc<dyn SignInLog>)`.
#[macro_export]
macro_rules! sign_in_log_contract {
    ($factory:path) => {
        $crate::__contract_tests!(
            sign_ins,
            $factory,
            [
                a_revoked_session_is_revoked_until_its_time_and_others_are_not,
                attempts_count_per_client_and_window,
                failures_read_back_per_window_and_are_forgotten_on_request,
                concurrent_attempts_are_each_counted,
            ]
        );
    };
}
