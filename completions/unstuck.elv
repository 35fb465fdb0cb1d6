
use builtin;
use str;

set edit:completion:arg-completer[unstuck] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'unstuck'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'unstuck'= {
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand doctor 'Diagnose one flow run: why is it not running?'
            cand work-pool 'Work pools: who holds a pool''s concurrency slots'
            cand work-queue 'Work queues: who holds a queue''s concurrency slots'
            cand deployment 'Deployments: who holds a deployment''s concurrency slots'
            cand health 'Fleet health: can every work pool run work right now? (for terminals, CI and monitoring)'
            cand serve 'Prometheus exporter: serve `health`''s metrics over HTTP, from a scan every interval'
            cand checks 'List every check id with a one-line summary'
            cand explain 'The long form of one check: what it means, why it matters, how to fix it'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'unstuck;doctor'= {
            cand -o 'Output format'
            cand --output 'Output format'
            cand --pending-threshold 'How long a run may sit in Pending before it counts as stuck [default: 5m]'
            cand --late-threshold 'How long past its scheduled time a run may wait before it counts as late [default: 5m]'
            cand --observe 'Also watch the pool''s queue polls and worker heartbeats for DURATION and report the measured poll rate per queue (the command takes that much longer)'
            cand --api-url 'The Prefect API URL (overrides PREFECT_API_URL and the profile)'
            cand --profile 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)'
            cand --timeout 'Deadline for the whole command'
            cand --kube-context 'The kubeconfig context to read Kubernetes with (default: the current context, or the in-cluster config)'
            cand --aws-profile 'The AWS profile to read ECS and CloudWatch Logs with (default: AWS_PROFILE, or the default credential chain)'
            cand --aws-region 'The AWS region of the run''s ECS cluster (default: AWS_REGION, else the region in the task''s ARN)'
            cand --save-evidence 'Write everything that was collected (secrets redacted) to FILE as JSON'
            cand --evidence 'Replay a saved evidence bundle instead of calling any server'
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand --no-kube 'Do not read Kubernetes'
            cand --no-ecs 'Do not read AWS ECS or CloudWatch Logs'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'unstuck;work-pool'= {
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand slots 'Who holds the pool''s concurrency slots, since when, and are they alive?'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'unstuck;work-pool;slots'= {
            cand -o 'Output format'
            cand --output 'Output format'
            cand --pending-threshold 'How long a holder may sit in Pending (or Cancelling) before it may count as dead [default: 5m]'
            cand --api-url 'The Prefect API URL (overrides PREFECT_API_URL and the profile)'
            cand --profile 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)'
            cand --timeout 'Deadline for the whole command'
            cand --save-evidence 'Write everything that was collected (secrets redacted) to FILE as JSON'
            cand --evidence 'Replay a saved evidence bundle instead of calling any server'
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'unstuck;work-pool;help'= {
            cand slots 'Who holds the pool''s concurrency slots, since when, and are they alive?'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'unstuck;work-pool;help;slots'= {
        }
        &'unstuck;work-pool;help;help'= {
        }
        &'unstuck;work-queue'= {
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand slots 'Who holds the queue''s concurrency slots, since when, and are they alive?'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'unstuck;work-queue;slots'= {
            cand --pool 'The work pool the queue belongs to (needed when several pools have a queue of that name)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --pending-threshold 'How long a holder may sit in Pending (or Cancelling) before it may count as dead [default: 5m]'
            cand --api-url 'The Prefect API URL (overrides PREFECT_API_URL and the profile)'
            cand --profile 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)'
            cand --timeout 'Deadline for the whole command'
            cand --save-evidence 'Write everything that was collected (secrets redacted) to FILE as JSON'
            cand --evidence 'Replay a saved evidence bundle instead of calling any server'
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'unstuck;work-queue;help'= {
            cand slots 'Who holds the queue''s concurrency slots, since when, and are they alive?'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'unstuck;work-queue;help;slots'= {
        }
        &'unstuck;work-queue;help;help'= {
        }
        &'unstuck;deployment'= {
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand slots 'Who holds the deployment''s concurrency slots (Prefect 3), and are they alive?'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'unstuck;deployment;slots'= {
            cand -o 'Output format'
            cand --output 'Output format'
            cand --pending-threshold 'How long a holder may sit in Pending (or Cancelling) before it may count as dead [default: 5m]'
            cand --api-url 'The Prefect API URL (overrides PREFECT_API_URL and the profile)'
            cand --profile 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)'
            cand --timeout 'Deadline for the whole command'
            cand --save-evidence 'Write everything that was collected (secrets redacted) to FILE as JSON'
            cand --evidence 'Replay a saved evidence bundle instead of calling any server'
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'unstuck;deployment;help'= {
            cand slots 'Who holds the deployment''s concurrency slots (Prefect 3), and are they alive?'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'unstuck;deployment;help;slots'= {
        }
        &'unstuck;deployment;help;help'= {
        }
        &'unstuck;health'= {
            cand --fail-on 'Which verdict fails the command (non-zero exit): critical only, or warnings too'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --pool 'Only this pool (repeat for several); by default every pool of the server'
            cand --pending-threshold 'How long a run may sit in Pending before it counts as stuck [default: 5m]'
            cand --late-threshold 'How long past its scheduled time a run may wait before it counts as late [default: 5m]'
            cand --max-runs 'How many stuck runs to diagnose per pool (the oldest first)'
            cand --concurrency 'Requests in flight at once'
            cand --api-url 'The Prefect API URL (overrides PREFECT_API_URL and the profile)'
            cand --profile 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)'
            cand --timeout 'Deadline for the whole command'
            cand --kube-context 'The kubeconfig context to read Kubernetes with (default: the current context, or the in-cluster config)'
            cand --aws-profile 'The AWS profile to read ECS and CloudWatch Logs with (default: AWS_PROFILE, or the default credential chain)'
            cand --aws-region 'The AWS region of the run''s ECS cluster (default: AWS_REGION, else the region in the task''s ARN)'
            cand --save-evidence 'Write everything that was collected (secrets redacted) to FILE as JSON'
            cand --evidence 'Replay a saved evidence bundle instead of calling any server'
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand --no-kube 'Do not read Kubernetes'
            cand --no-ecs 'Do not read AWS ECS or CloudWatch Logs'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'unstuck;serve'= {
            cand --listen 'The address to serve /metrics and /healthz on (IP:PORT; 0.0.0.0:9464 in a pod)'
            cand --interval 'How often to scan the fleet (the age of the metrics a scrape gets, at most this plus one scan)'
            cand --pool 'Only this pool (repeat for several); by default every pool of the server'
            cand --pending-threshold 'How long a run may sit in Pending before it counts as stuck [default: 5m]'
            cand --late-threshold 'How long past its scheduled time a run may wait before it counts as late [default: 5m]'
            cand --max-runs 'How many stuck runs to diagnose per pool (the oldest first)'
            cand --concurrency 'Requests in flight at once'
            cand --api-url 'The Prefect API URL (overrides PREFECT_API_URL and the profile)'
            cand --profile 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)'
            cand --timeout 'Deadline for the whole command'
            cand --kube-context 'The kubeconfig context to read Kubernetes with (default: the current context, or the in-cluster config)'
            cand --aws-profile 'The AWS profile to read ECS and CloudWatch Logs with (default: AWS_PROFILE, or the default credential chain)'
            cand --aws-region 'The AWS region of the run''s ECS cluster (default: AWS_REGION, else the region in the task''s ARN)'
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand --no-kube 'Do not read Kubernetes'
            cand --no-ecs 'Do not read AWS ECS or CloudWatch Logs'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'unstuck;checks'= {
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'unstuck;explain'= {
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'unstuck;completions'= {
            cand --color 'When to colour the output (honours NO_COLOR)'
            cand -q 'Print only the verdict line (table output); no progress, no warnings'
            cand --quiet 'Print only the verdict line (table output); no progress, no warnings'
            cand -v 'Log each request to stderr (-vv adds response sizes and retries)'
            cand --verbose 'Log each request to stderr (-vv adds response sizes and retries)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'unstuck;help'= {
            cand doctor 'Diagnose one flow run: why is it not running?'
            cand work-pool 'Work pools: who holds a pool''s concurrency slots'
            cand work-queue 'Work queues: who holds a queue''s concurrency slots'
            cand deployment 'Deployments: who holds a deployment''s concurrency slots'
            cand health 'Fleet health: can every work pool run work right now? (for terminals, CI and monitoring)'
            cand serve 'Prometheus exporter: serve `health`''s metrics over HTTP, from a scan every interval'
            cand checks 'List every check id with a one-line summary'
            cand explain 'The long form of one check: what it means, why it matters, how to fix it'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'unstuck;help;doctor'= {
        }
        &'unstuck;help;work-pool'= {
            cand slots 'Who holds the pool''s concurrency slots, since when, and are they alive?'
        }
        &'unstuck;help;work-pool;slots'= {
        }
        &'unstuck;help;work-queue'= {
            cand slots 'Who holds the queue''s concurrency slots, since when, and are they alive?'
        }
        &'unstuck;help;work-queue;slots'= {
        }
        &'unstuck;help;deployment'= {
            cand slots 'Who holds the deployment''s concurrency slots (Prefect 3), and are they alive?'
        }
        &'unstuck;help;deployment;slots'= {
        }
        &'unstuck;help;health'= {
        }
        &'unstuck;help;serve'= {
        }
        &'unstuck;help;checks'= {
        }
        &'unstuck;help;explain'= {
        }
        &'unstuck;help;completions'= {
        }
        &'unstuck;help;help'= {
        }
    ]
    $completions[$command]
}
