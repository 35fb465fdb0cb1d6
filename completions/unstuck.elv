
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
            cand checks 'List every check id with a one-line summary'
            cand explain 'The long form of one check: what it means, why it matters, how to fix it'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'unstuck;help;doctor'= {
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
