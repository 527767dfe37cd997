using Microsoft.Extensions.Logging;

namespace Patch.Api.Tests.Console;

/// <summary>Keeps what the server logs as an error, so a test that saw a 500 can say why.</summary>
public sealed class ErrorLog : ILoggerProvider
{
    public List<string> Errors { get; } = [];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private sealed class Logger(ErrorLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            lock (log.Errors) log.Errors.Add($"{category}: {formatter(state, exception)} {exception}");
        }
    }
}
