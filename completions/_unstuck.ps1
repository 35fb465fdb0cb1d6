
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'unstuck' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'unstuck'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'unstuck' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Diagnose one flow run: why is it not running?')
            [CompletionResult]::new('work-pool', 'work-pool', [CompletionResultType]::ParameterValue, 'Work pools: who holds a pool''s concurrency slots')
            [CompletionResult]::new('work-queue', 'work-queue', [CompletionResultType]::ParameterValue, 'Work queues: who holds a queue''s concurrency slots')
            [CompletionResult]::new('deployment', 'deployment', [CompletionResultType]::ParameterValue, 'Deployments: who holds a deployment''s concurrency slots')
            [CompletionResult]::new('health', 'health', [CompletionResultType]::ParameterValue, 'Fleet health: can every work pool run work right now? (for terminals, CI and monitoring)')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Prometheus exporter: serve `health`''s metrics over HTTP, from a scan every interval')
            [CompletionResult]::new('checks', 'checks', [CompletionResultType]::ParameterValue, 'List every check id with a one-line summary')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'The long form of one check: what it means, why it matters, how to fix it')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'unstuck;doctor' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--pending-threshold', '--pending-threshold', [CompletionResultType]::ParameterName, 'How long a run may sit in Pending before it counts as stuck [default: 5m]')
            [CompletionResult]::new('--late-threshold', '--late-threshold', [CompletionResultType]::ParameterName, 'How long past its scheduled time a run may wait before it counts as late [default: 5m]')
            [CompletionResult]::new('--observe', '--observe', [CompletionResultType]::ParameterName, 'Also watch the pool''s queue polls and worker heartbeats for DURATION and report the measured poll rate per queue (the command takes that much longer)')
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'The Prefect API URL (overrides PREFECT_API_URL and the profile)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Deadline for the whole command')
            [CompletionResult]::new('--kube-context', '--kube-context', [CompletionResultType]::ParameterName, 'The kubeconfig context to read Kubernetes with (default: the current context, or the in-cluster config)')
            [CompletionResult]::new('--aws-profile', '--aws-profile', [CompletionResultType]::ParameterName, 'The AWS profile to read ECS and CloudWatch Logs with (default: AWS_PROFILE, or the default credential chain)')
            [CompletionResult]::new('--aws-region', '--aws-region', [CompletionResultType]::ParameterName, 'The AWS region of the run''s ECS cluster (default: AWS_REGION, else the region in the task''s ARN)')
            [CompletionResult]::new('--save-evidence', '--save-evidence', [CompletionResultType]::ParameterName, 'Write everything that was collected (secrets redacted) to FILE as JSON')
            [CompletionResult]::new('--evidence', '--evidence', [CompletionResultType]::ParameterName, 'Replay a saved evidence bundle instead of calling any server')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('--no-kube', '--no-kube', [CompletionResultType]::ParameterName, 'Do not read Kubernetes')
            [CompletionResult]::new('--no-ecs', '--no-ecs', [CompletionResultType]::ParameterName, 'Do not read AWS ECS or CloudWatch Logs')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'unstuck;work-pool' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('slots', 'slots', [CompletionResultType]::ParameterValue, 'Who holds the pool''s concurrency slots, since when, and are they alive?')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'unstuck;work-pool;slots' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--pending-threshold', '--pending-threshold', [CompletionResultType]::ParameterName, 'How long a holder may sit in Pending (or Cancelling) before it may count as dead [default: 5m]')
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'The Prefect API URL (overrides PREFECT_API_URL and the profile)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Deadline for the whole command')
            [CompletionResult]::new('--save-evidence', '--save-evidence', [CompletionResultType]::ParameterName, 'Write everything that was collected (secrets redacted) to FILE as JSON')
            [CompletionResult]::new('--evidence', '--evidence', [CompletionResultType]::ParameterName, 'Replay a saved evidence bundle instead of calling any server')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'unstuck;work-pool;help' {
            [CompletionResult]::new('slots', 'slots', [CompletionResultType]::ParameterValue, 'Who holds the pool''s concurrency slots, since when, and are they alive?')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'unstuck;work-pool;help;slots' {
            break
        }
        'unstuck;work-pool;help;help' {
            break
        }
        'unstuck;work-queue' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('slots', 'slots', [CompletionResultType]::ParameterValue, 'Who holds the queue''s concurrency slots, since when, and are they alive?')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'unstuck;work-queue;slots' {
            [CompletionResult]::new('--pool', '--pool', [CompletionResultType]::ParameterName, 'The work pool the queue belongs to (needed when several pools have a queue of that name)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--pending-threshold', '--pending-threshold', [CompletionResultType]::ParameterName, 'How long a holder may sit in Pending (or Cancelling) before it may count as dead [default: 5m]')
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'The Prefect API URL (overrides PREFECT_API_URL and the profile)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Deadline for the whole command')
            [CompletionResult]::new('--save-evidence', '--save-evidence', [CompletionResultType]::ParameterName, 'Write everything that was collected (secrets redacted) to FILE as JSON')
            [CompletionResult]::new('--evidence', '--evidence', [CompletionResultType]::ParameterName, 'Replay a saved evidence bundle instead of calling any server')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'unstuck;work-queue;help' {
            [CompletionResult]::new('slots', 'slots', [CompletionResultType]::ParameterValue, 'Who holds the queue''s concurrency slots, since when, and are they alive?')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'unstuck;work-queue;help;slots' {
            break
        }
        'unstuck;work-queue;help;help' {
            break
        }
        'unstuck;deployment' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('slots', 'slots', [CompletionResultType]::ParameterValue, 'Who holds the deployment''s concurrency slots (Prefect 3), and are they alive?')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'unstuck;deployment;slots' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--pending-threshold', '--pending-threshold', [CompletionResultType]::ParameterName, 'How long a holder may sit in Pending (or Cancelling) before it may count as dead [default: 5m]')
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'The Prefect API URL (overrides PREFECT_API_URL and the profile)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Deadline for the whole command')
            [CompletionResult]::new('--save-evidence', '--save-evidence', [CompletionResultType]::ParameterName, 'Write everything that was collected (secrets redacted) to FILE as JSON')
            [CompletionResult]::new('--evidence', '--evidence', [CompletionResultType]::ParameterName, 'Replay a saved evidence bundle instead of calling any server')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'unstuck;deployment;help' {
            [CompletionResult]::new('slots', 'slots', [CompletionResultType]::ParameterValue, 'Who holds the deployment''s concurrency slots (Prefect 3), and are they alive?')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'unstuck;deployment;help;slots' {
            break
        }
        'unstuck;deployment;help;help' {
            break
        }
        'unstuck;health' {
            [CompletionResult]::new('--fail-on', '--fail-on', [CompletionResultType]::ParameterName, 'Which verdict fails the command (non-zero exit): critical only, or warnings too')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--pool', '--pool', [CompletionResultType]::ParameterName, 'Only this pool (repeat for several); by default every pool of the server')
            [CompletionResult]::new('--pending-threshold', '--pending-threshold', [CompletionResultType]::ParameterName, 'How long a run may sit in Pending before it counts as stuck [default: 5m]')
            [CompletionResult]::new('--late-threshold', '--late-threshold', [CompletionResultType]::ParameterName, 'How long past its scheduled time a run may wait before it counts as late [default: 5m]')
            [CompletionResult]::new('--max-runs', '--max-runs', [CompletionResultType]::ParameterName, 'How many stuck runs to diagnose per pool (the oldest first)')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Requests in flight at once')
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'The Prefect API URL (overrides PREFECT_API_URL and the profile)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Deadline for the whole command')
            [CompletionResult]::new('--kube-context', '--kube-context', [CompletionResultType]::ParameterName, 'The kubeconfig context to read Kubernetes with (default: the current context, or the in-cluster config)')
            [CompletionResult]::new('--aws-profile', '--aws-profile', [CompletionResultType]::ParameterName, 'The AWS profile to read ECS and CloudWatch Logs with (default: AWS_PROFILE, or the default credential chain)')
            [CompletionResult]::new('--aws-region', '--aws-region', [CompletionResultType]::ParameterName, 'The AWS region of the run''s ECS cluster (default: AWS_REGION, else the region in the task''s ARN)')
            [CompletionResult]::new('--save-evidence', '--save-evidence', [CompletionResultType]::ParameterName, 'Write everything that was collected (secrets redacted) to FILE as JSON')
            [CompletionResult]::new('--evidence', '--evidence', [CompletionResultType]::ParameterName, 'Replay a saved evidence bundle instead of calling any server')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('--no-kube', '--no-kube', [CompletionResultType]::ParameterName, 'Do not read Kubernetes')
            [CompletionResult]::new('--no-ecs', '--no-ecs', [CompletionResultType]::ParameterName, 'Do not read AWS ECS or CloudWatch Logs')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'unstuck;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'The address to serve /metrics and /healthz on (IP:PORT; 0.0.0.0:9464 in a pod)')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'How often to scan the fleet (the age of the metrics a scrape gets, at most this plus one scan)')
            [CompletionResult]::new('--pool', '--pool', [CompletionResultType]::ParameterName, 'Only this pool (repeat for several); by default every pool of the server')
            [CompletionResult]::new('--pending-threshold', '--pending-threshold', [CompletionResultType]::ParameterName, 'How long a run may sit in Pending before it counts as stuck [default: 5m]')
            [CompletionResult]::new('--late-threshold', '--late-threshold', [CompletionResultType]::ParameterName, 'How long past its scheduled time a run may wait before it counts as late [default: 5m]')
            [CompletionResult]::new('--max-runs', '--max-runs', [CompletionResultType]::ParameterName, 'How many stuck runs to diagnose per pool (the oldest first)')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Requests in flight at once')
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'The Prefect API URL (overrides PREFECT_API_URL and the profile)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Deadline for the whole command')
            [CompletionResult]::new('--kube-context', '--kube-context', [CompletionResultType]::ParameterName, 'The kubeconfig context to read Kubernetes with (default: the current context, or the in-cluster config)')
            [CompletionResult]::new('--aws-profile', '--aws-profile', [CompletionResultType]::ParameterName, 'The AWS profile to read ECS and CloudWatch Logs with (default: AWS_PROFILE, or the default credential chain)')
            [CompletionResult]::new('--aws-region', '--aws-region', [CompletionResultType]::ParameterName, 'The AWS region of the run''s ECS cluster (default: AWS_REGION, else the region in the task''s ARN)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('--no-kube', '--no-kube', [CompletionResultType]::ParameterName, 'Do not read Kubernetes')
            [CompletionResult]::new('--no-ecs', '--no-ecs', [CompletionResultType]::ParameterName, 'Do not read AWS ECS or CloudWatch Logs')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'unstuck;checks' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'unstuck;explain' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'unstuck;completions' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (honours NO_COLOR)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the verdict line (table output); no progress, no warnings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log each request to stderr (-vv adds response sizes and retries)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'unstuck;help' {
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Diagnose one flow run: why is it not running?')
            [CompletionResult]::new('work-pool', 'work-pool', [CompletionResultType]::ParameterValue, 'Work pools: who holds a pool''s concurrency slots')
            [CompletionResult]::new('work-queue', 'work-queue', [CompletionResultType]::ParameterValue, 'Work queues: who holds a queue''s concurrency slots')
            [CompletionResult]::new('deployment', 'deployment', [CompletionResultType]::ParameterValue, 'Deployments: who holds a deployment''s concurrency slots')
            [CompletionResult]::new('health', 'health', [CompletionResultType]::ParameterValue, 'Fleet health: can every work pool run work right now? (for terminals, CI and monitoring)')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Prometheus exporter: serve `health`''s metrics over HTTP, from a scan every interval')
            [CompletionResult]::new('checks', 'checks', [CompletionResultType]::ParameterValue, 'List every check id with a one-line summary')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'The long form of one check: what it means, why it matters, how to fix it')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'unstuck;help;doctor' {
            break
        }
        'unstuck;help;work-pool' {
            [CompletionResult]::new('slots', 'slots', [CompletionResultType]::ParameterValue, 'Who holds the pool''s concurrency slots, since when, and are they alive?')
            break
        }
        'unstuck;help;work-pool;slots' {
            break
        }
        'unstuck;help;work-queue' {
            [CompletionResult]::new('slots', 'slots', [CompletionResultType]::ParameterValue, 'Who holds the queue''s concurrency slots, since when, and are they alive?')
            break
        }
        'unstuck;help;work-queue;slots' {
            break
        }
        'unstuck;help;deployment' {
            [CompletionResult]::new('slots', 'slots', [CompletionResultType]::ParameterValue, 'Who holds the deployment''s concurrency slots (Prefect 3), and are they alive?')
            break
        }
        'unstuck;help;deployment;slots' {
            break
        }
        'unstuck;help;health' {
            break
        }
        'unstuck;help;serve' {
            break
        }
        'unstuck;help;checks' {
            break
        }
        'unstuck;help;explain' {
            break
        }
        'unstuck;help;completions' {
            break
        }
        'unstuck;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
