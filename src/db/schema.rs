// One portable schema for SQLite and PostgreSQL (see migrations/*/2026-11-22-000001_init).

diesel::table! {
    contacts (id) {
        id -> Text,
        kind -> Text,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        telegram_chat_id -> Nullable<Text>,
        iin_bin -> Nullable<Text>,
        language -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        body_id -> Nullable<Text>,
        whatsapp_id -> Nullable<Text>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        login -> Text,
        name -> Text,
        role -> Text,
        queue -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        active -> Integer,
        created_at -> Timestamp,
        email -> Nullable<Text>,
        telegram_chat_id -> Nullable<Text>,
        body_id -> Nullable<Text>,
        language -> Nullable<Text>,
        // (migrations/*/2026-12-04-000601_admin_portal)
        last_sign_in_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        token_hash -> Text,
        label -> Nullable<Text>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tickets (id) {
        id -> Text,
        number -> Text,
        contact_id -> Text,
        channel -> Text,
        conversation -> Nullable<Text>,
        status -> Text,
        queue -> Text,
        assignee_id -> Nullable<Text>,
        subject -> Text,
        language -> Text,
        region -> Nullable<Text>,
        topic -> Nullable<Text>,
        access_key_hash -> Nullable<Text>,
        registered_at -> Timestamp,
        effective_from -> Text,
        due_at -> Timestamp,
        deadline -> Text,
        answered_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        rating -> Nullable<Integer>,
        search_text -> Text,
        updated_at -> Timestamp,
        applicant -> Nullable<Text>,
        anonymised_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    raw_payloads (id) {
        id -> Text,
        channel -> Text,
        dedupe_key -> Nullable<Text>,
        content -> Binary,
        sha256 -> Text,
        status -> Text,
        reason -> Nullable<Text>,
        ticket_id -> Nullable<Text>,
        received_at -> Timestamp,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        ticket_id -> Text,
        direction -> Text,
        kind -> Text,
        channel -> Text,
        author_id -> Nullable<Text>,
        address -> Text,
        subject -> Nullable<Text>,
        body_text -> Text,
        body_html -> Nullable<Text>,
        external_id -> Nullable<Text>,
        raw_payload_id -> Nullable<Text>,
        delivery_status -> Nullable<Text>,
        delivery_error -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        search_text -> Nullable<Text>,
    }
}

diesel::table! {
    attachments (id) {
        id -> Text,
        message_id -> Text,
        file_name -> Text,
        content_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        content -> Binary,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ticket_events (id) {
        id -> Text,
        ticket_id -> Text,
        at -> Timestamp,
        actor -> Text,
        kind -> Text,
        data -> Text,
        seq -> Nullable<BigInt>,
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
        personal -> Nullable<Text>,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        kind -> Text,
        payload -> Text,
        ticket_id -> Nullable<Text>,
        status -> Text,
        run_at -> Timestamp,
        attempts -> Integer,
        max_attempts -> Integer,
        lease_until -> Nullable<Timestamp>,
        leased_by -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    calendar_days (day) {
        day -> Text,
        kind -> Text,
        note -> Text,
        set_by -> Text,
        set_at -> Timestamp,
    }
}

diesel::table! {
    calendar_years (year) {
        year -> Integer,
        note -> Text,
        set_by -> Text,
        set_at -> Timestamp,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    channel_state (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    telegram_updates (update_id) {
        update_id -> BigInt,
        handled_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (key) {
        key -> Text,
        request_hash -> Text,
        status -> Integer,
        body -> Text,
        ticket_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    queues (code) {
        code -> Text,
        name_kk -> Text,
        name_ru -> Text,
        supervisors -> Text,
        reminders_enabled -> Integer,
        reminder_hours -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        // (migrations/*/2026-12-04-000601_admin_portal)
        active -> Integer,
    }
}

diesel::table! {
    staff_notices (id) {
        id -> Text,
        kind -> Text,
        ticket_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        address -> Text,
        subject -> Text,
        body_text -> Text,
        delivery_status -> Text,
        delivery_error -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    bodies (id) {
        id -> Text,
        kind -> Text,
        name_kk -> Text,
        name_ru -> Text,
        region -> Nullable<Text>,
        email -> Nullable<Text>,
        phones -> Text,
        address -> Nullable<Text>,
        website -> Nullable<Text>,
        working_hours -> Nullable<Text>,
        webhook_url -> Nullable<Text>,
        webhook_secret -> Nullable<Text>,
        ref_pattern -> Nullable<Text>,
        telegram_chat_id -> Nullable<Text>,
        digest -> Text,
        active -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    body_persons (id) {
        id -> Text,
        body_id -> Text,
        name -> Text,
        position -> Nullable<Text>,
        phones -> Text,
        email -> Nullable<Text>,
        telegram_chat_id -> Nullable<Text>,
        ict_group -> Integer,
        active -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    systems (code) {
        code -> Text,
        name_kk -> Text,
        name_ru -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    body_systems (body_id, system_code) {
        body_id -> Text,
        system_code -> Text,
    }
}

diesel::table! {
    forwards (id) {
        id -> Text,
        reference -> Text,
        ticket_id -> Text,
        body_id -> Text,
        body_kind -> Text,
        category -> Nullable<Text>,
        question -> Text,
        sent -> Text,
        include_personal_data -> Integer,
        status -> Text,
        due_at -> Timestamp,
        deadline -> Text,
        body_references -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        answered_at -> Nullable<Timestamp>,
        answer_message_id -> Nullable<Text>,
        declined_at -> Nullable<Timestamp>,
        decline_reason -> Nullable<Text>,
        closed_by -> Nullable<Text>,
        relayed_at -> Nullable<Timestamp>,
        quality_notice_id -> Nullable<Text>,
    }
}

diesel::table! {
    forward_deliveries (id) {
        id -> Text,
        forward_id -> Text,
        purpose -> Text,
        channel -> Text,
        address -> Text,
        message_id -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        history -> Text,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    forward_messages (message_id) {
        message_id -> Text,
        forward_id -> Text,
        state -> Text,
        reason -> Nullable<Text>,
        decided_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    quality_notices (id) {
        id -> Text,
        body_id -> Text,
        quality_body_id -> Nullable<Text>,
        evidence -> Text,
        due_at -> Timestamp,
        deadline -> Text,
        status -> Text,
        confirmed_by -> Nullable<Text>,
        confirmed_at -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    services (id) {
        id -> Text,
        register_number -> Text,
        name_kk -> Text,
        name_ru -> Text,
        body_id -> Text,
        standard_body_id -> Nullable<Text>,
        responsible_person_id -> Nullable<Text>,
        bylaws -> Text,
        bylaw_changes -> Text,
        web_page -> Nullable<Text>,
        passport -> Text,
        keywords -> Text,
        search_text -> Text,
        active -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    service_steps (id) {
        id -> Text,
        service_id -> Text,
        step -> Text,
        after_step -> Nullable<Text>,
        after_date -> Nullable<Text>,
        due_at -> Nullable<Timestamp>,
        done_on -> Nullable<Text>,
        note -> Nullable<Text>,
        recorded_by -> Nullable<Text>,
        escalated_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ticket_services (ticket_id, service_id) {
        ticket_id -> Text,
        service_id -> Text,
        source -> Text,
        linked_by -> Text,
        linked_at -> Timestamp,
    }
}

diesel::table! {
    body_digests (body_id, period) {
        body_id -> Text,
        period -> Text,
        window_from -> Timestamp,
        window_to -> Timestamp,
        tickets -> Integer,
        notice_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

// Planned-outage broadcasts (migrations/*/2026-12-02-000004_outages).
diesel::table! {
    outages (id) {
        id -> Text,
        kind -> Text,
        status -> Text,
        impact -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        systems -> Text,
        title_kk -> Text,
        title_ru -> Text,
        text_kk -> Text,
        text_ru -> Text,
        reason -> Nullable<Text>,
        declared_by -> Text,
        declared_at -> Timestamp,
        sequence -> Integer,
        lead_notice_id -> Nullable<Text>,
        lead_breach -> Integer,
        breach_reason -> Nullable<Text>,
        breached_at -> Nullable<Timestamp>,
        completed_at -> Nullable<Timestamp>,
        cancelled_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    outage_notices (id) {
        id -> Text,
        outage_id -> Text,
        kind -> Text,
        dedupe_key -> Text,
        sequence -> Integer,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        subject -> Text,
        body_text -> Text,
        ics -> Text,
        webhook_payload -> Text,
        recipients -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outage_deliveries (id) {
        id -> Text,
        notice_id -> Text,
        outage_id -> Text,
        body_id -> Text,
        person_id -> Nullable<Text>,
        channel -> Text,
        address -> Text,
        status -> Text,
        attempts -> Integer,
        queued_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        accepted_reply -> Nullable<Text>,
        last_error -> Nullable<Text>,
        last_attempt_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    telegram_link_codes (code_hash) {
        code_hash -> Text,
        body_id -> Text,
        person_id -> Nullable<Text>,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        chat_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

// The operator console's sessions and sign-in locks
// (migrations/*/2026-12-03-000101_console_sessions).
diesel::table! {
    console_sessions (id) {
        id -> Text,
        user_id -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    sign_in_failures (login) {
        login -> Text,
        failures -> Integer,
        first_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

// The console's presence notices and saved filters
// (migrations/*/2026-12-03-000102_console_work).
diesel::table! {
    ticket_presence (ticket_id, user_id) {
        ticket_id -> Text,
        user_id -> Text,
        state -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    saved_filters (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        query -> Text,
        created_at -> Timestamp,
    }
}

// Search and the Knowledge Base (migrations/*/2026-12-03-000201_kb). The full-text parts
// (FTS5 tables, tsvector columns) are per engine and read through SQL in src/search.
diesel::table! {
    ticket_search (doc) {
        doc -> BigInt,
        ticket_id -> Text,
        terms -> Text,
    }
}

diesel::table! {
    search_vocab (scope, word) {
        scope -> Text,
        word -> Text,
        terms -> Text,
    }
}

diesel::table! {
    kb_articles (id) {
        id -> Text,
        language -> Text,
        title -> Text,
        body -> Text,
        tags -> Text,
        service_id -> Nullable<Text>,
        body_id -> Nullable<Text>,
        version -> Integer,
        published_version -> Nullable<Integer>,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
        published_at -> Nullable<Timestamp>,
        published_by -> Nullable<Text>,
    }
}

diesel::table! {
    kb_versions (article_id, version) {
        article_id -> Text,
        version -> Integer,
        language -> Text,
        title -> Text,
        body -> Text,
        tags -> Text,
        service_id -> Nullable<Text>,
        body_id -> Nullable<Text>,
        changed -> Text,
        note -> Nullable<Text>,
        author -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    kb_search (doc) {
        doc -> BigInt,
        source -> Text,
        ref_id -> Text,
        state -> Text,
        language -> Text,
        service_id -> Nullable<Text>,
        body_id -> Nullable<Text>,
        version -> Integer,
        title_terms -> Text,
        body_terms -> Text,
    }
}

// Ratings, monthly reports and discrepancy requests (migrations/*/2026-12-03-000301_ratings_reports).
diesel::table! {
    rating_requests (id) {
        id -> Text,
        ticket_id -> Text,
        round -> Integer,
        operator_id -> Nullable<Text>,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ratings (id) {
        id -> Text,
        ticket_id -> Text,
        round -> Integer,
        request_id -> Nullable<Text>,
        operator_id -> Nullable<Text>,
        queue -> Text,
        channel -> Text,
        source -> Text,
        score -> Integer,
        satisfied_process -> Nullable<Integer>,
        satisfied_info -> Nullable<Integer>,
        comment -> Nullable<Text>,
        month -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    report_choices (id) {
        id -> Text,
        kind -> Text,
        code -> Text,
        name_kk -> Text,
        name_ru -> Text,
        position -> Integer,
        active -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ticket_classifications (ticket_id) {
        ticket_id -> Text,
        bylaw_violation -> Nullable<Text>,
        staff_action -> Nullable<Text>,
        set_by -> Text,
        set_at -> Timestamp,
    }
}

diesel::table! {
    report_runs (id) {
        id -> Text,
        report -> Text,
        month -> Text,
        status -> Text,
        started_by -> Text,
        rows_total -> Integer,
        due_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    report_deliveries (id) {
        id -> Text,
        run_id -> Text,
        body_id -> Text,
        scope -> Text,
        address -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        rows_sent -> Nullable<Integer>,
        file_name -> Nullable<Text>,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    discrepancies (id) {
        id -> Text,
        run_id -> Nullable<Text>,
        report -> Text,
        month -> Text,
        body_id -> Text,
        figures -> Text,
        details -> Text,
        status -> Text,
        due_at -> Timestamp,
        deadline -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        answer -> Nullable<Text>,
        answered_by -> Nullable<Text>,
        answered_at -> Nullable<Timestamp>,
        answer_status -> Nullable<Text>,
        answer_error -> Nullable<Text>,
        answer_sent_at -> Nullable<Timestamp>,
    }
}

// The phone channel (migrations/*/2026-12-03-000401_calls).
diesel::table! {
    calls (id) {
        id -> Text,
        call_id -> Text,
        caller -> Text,
        called -> Text,
        queue -> Text,
        arrived_at -> Timestamp,
        answered_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        operator -> Nullable<Text>,
        disposition -> Nullable<Text>,
        wait_secs -> Nullable<BigInt>,
        local_day -> Text,
        local_hour -> Integer,
        survey -> Nullable<Integer>,
        ticket_id -> Nullable<Text>,
        source -> Text,
        events -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    call_recordings (id) {
        id -> Text,
        call_id -> Text,
        status -> Text,
        source_url -> Nullable<Text>,
        content_type -> Nullable<Text>,
        size -> Nullable<BigInt>,
        sha256 -> Nullable<Text>,
        content -> Nullable<Binary>,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        stored_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    call_access (id) {
        id -> Text,
        call_id -> Text,
        actor -> Text,
        action -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    record_requests (id) {
        id -> Text,
        requester -> Text,
        requester_role -> Text,
        day -> Text,
        phone -> Text,
        time_from -> Nullable<Text>,
        time_to -> Nullable<Text>,
        ticket_number -> Nullable<Text>,
        status -> Text,
        due_at -> Timestamp,
        created_at -> Timestamp,
        released_at -> Nullable<Timestamp>,
        released_by -> Nullable<Text>,
        downloaded_at -> Nullable<Timestamp>,
        escalated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    record_request_items (id) {
        id -> Text,
        request_id -> Text,
        kind -> Text,
        ref_id -> Text,
    }
}

diesel::table! {
    whatsapp_messages (message_id) {
        message_id -> Text,
        handled_at -> Timestamp,
    }
}

diesel::table! {
    whatsapp_sent (remote_id) {
        remote_id -> Text,
        message_id -> Nullable<Text>,
        status -> Nullable<Text>,
        status_rank -> Integer,
        error -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(tickets -> contacts (contact_id));
diesel::joinable!(messages -> tickets (ticket_id));
diesel::joinable!(attachments -> messages (message_id));
diesel::joinable!(ticket_events -> tickets (ticket_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(service_steps -> services (service_id));
diesel::joinable!(ticket_services -> services (service_id));
diesel::joinable!(ticket_services -> tickets (ticket_id));
diesel::joinable!(body_persons -> bodies (body_id));
diesel::joinable!(body_systems -> bodies (body_id));
diesel::joinable!(forwards -> tickets (ticket_id));
diesel::joinable!(forwards -> bodies (body_id));
diesel::joinable!(forward_deliveries -> forwards (forward_id));
diesel::joinable!(forward_messages -> forwards (forward_id));
diesel::joinable!(outage_notices -> outages (outage_id));
diesel::joinable!(outage_deliveries -> outage_notices (notice_id));
diesel::joinable!(console_sessions -> users (user_id));
diesel::joinable!(ticket_presence -> users (user_id));
diesel::joinable!(ticket_presence -> tickets (ticket_id));
diesel::joinable!(report_deliveries -> report_runs (run_id));
diesel::joinable!(record_request_items -> record_requests (request_id));

diesel::allow_tables_to_appear_in_same_query!(
    contacts,
    users,
    api_tokens,
    tickets,
    raw_payloads,
    messages,
    attachments,
    ticket_events,
    jobs,
    calendar_days,
    calendar_years,
    counters,
    channel_state,
    telegram_updates,
    idempotency_keys,
    queues,
    staff_notices,
    bodies,
    body_persons,
    systems,
    body_systems,
    forwards,
    forward_deliveries,
    forward_messages,
    quality_notices,
    services,
    service_steps,
    ticket_services,
    body_digests,
    whatsapp_messages,
    whatsapp_sent,
);

diesel::allow_tables_to_appear_in_same_query!(
    outages,
    outage_notices,
    outage_deliveries,
    telegram_link_codes,
    bodies
);

diesel::allow_tables_to_appear_in_same_query!(console_sessions, users, sign_in_failures);

diesel::allow_tables_to_appear_in_same_query!(ticket_presence, users, saved_filters);

diesel::allow_tables_to_appear_in_same_query!(ticket_presence, tickets);

diesel::allow_tables_to_appear_in_same_query!(ticket_search, tickets);

diesel::allow_tables_to_appear_in_same_query!(kb_articles, kb_versions, kb_search);

diesel::allow_tables_to_appear_in_same_query!(
    rating_requests,
    ratings,
    report_choices,
    ticket_classifications,
    report_runs,
    report_deliveries,
    discrepancies
);

// Each new table with the older ones it is joined to (pairs, so no pair is declared twice).
diesel::allow_tables_to_appear_in_same_query!(rating_requests, tickets);

diesel::allow_tables_to_appear_in_same_query!(rating_requests, users);

diesel::allow_tables_to_appear_in_same_query!(rating_requests, contacts);

diesel::allow_tables_to_appear_in_same_query!(rating_requests, bodies);

diesel::allow_tables_to_appear_in_same_query!(ratings, tickets);

diesel::allow_tables_to_appear_in_same_query!(ratings, users);

diesel::allow_tables_to_appear_in_same_query!(ratings, contacts);

diesel::allow_tables_to_appear_in_same_query!(ratings, bodies);

diesel::allow_tables_to_appear_in_same_query!(report_choices, tickets);

diesel::allow_tables_to_appear_in_same_query!(report_choices, users);

diesel::allow_tables_to_appear_in_same_query!(report_choices, contacts);

diesel::allow_tables_to_appear_in_same_query!(report_choices, bodies);

diesel::allow_tables_to_appear_in_same_query!(ticket_classifications, tickets);

diesel::allow_tables_to_appear_in_same_query!(ticket_classifications, users);

diesel::allow_tables_to_appear_in_same_query!(ticket_classifications, contacts);

diesel::allow_tables_to_appear_in_same_query!(ticket_classifications, bodies);

diesel::allow_tables_to_appear_in_same_query!(report_runs, tickets);

diesel::allow_tables_to_appear_in_same_query!(report_runs, users);

diesel::allow_tables_to_appear_in_same_query!(report_runs, contacts);

diesel::allow_tables_to_appear_in_same_query!(report_runs, bodies);

diesel::allow_tables_to_appear_in_same_query!(report_deliveries, tickets);

diesel::allow_tables_to_appear_in_same_query!(report_deliveries, users);

diesel::allow_tables_to_appear_in_same_query!(report_deliveries, contacts);

diesel::allow_tables_to_appear_in_same_query!(report_deliveries, bodies);

diesel::allow_tables_to_appear_in_same_query!(discrepancies, tickets);

diesel::allow_tables_to_appear_in_same_query!(discrepancies, users);

diesel::allow_tables_to_appear_in_same_query!(discrepancies, contacts);

diesel::allow_tables_to_appear_in_same_query!(discrepancies, bodies);

diesel::allow_tables_to_appear_in_same_query!(
    calls,
    call_recordings,
    call_access,
    record_requests,
    record_request_items
);
