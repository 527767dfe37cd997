namespace Patch.Application.Common;

/// <summary>
/// A request stored in several transactions failed after some of them committed (a bulk import's later chunk): the
/// answer must say what was kept and how to finish, never "nothing was saved". <see cref="Exception.Message"/> says it;
/// the cause is the inner exception, which decides the answer's status as it would alone.
/// </summary>
public sealed class PartlySavedException(string saved, Exception cause) : Exception(saved, cause);
