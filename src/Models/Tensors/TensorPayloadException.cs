using System.Text.Json;

namespace ReconService.Models.Tensors;

/// <summary>
/// A value a hand-written converter cannot read; <see cref="Member"/> names the part at fault below the value the
/// serializer's path reaches (<c>dtype</c> of a tensor, <c>[1][0]</c> of a batch of tokens), and the message is meant for the client.
/// </summary>
public class JsonMemberException : JsonException
{
    /// <summary>Creates the error.</summary>
    /// <param name="member">A member name (<c>dtype</c>) or indices (<c>[1][0]</c>) below the value, or empty for the value itself.</param>
    /// <param name="message">What was expected and what was given.</param>
    public JsonMemberException(string member, string message) : base(message) => Member = member;

    /// <summary>A member name (<c>dtype</c>) or indices (<c>[1][0]</c>) below the value, or empty for the value itself.</summary>
    public string Member { get; }
}

/// <summary>A tensor payload that cannot be read; <see cref="JsonMemberException.Member"/> names the payload field at fault.</summary>
public sealed class TensorPayloadException : JsonMemberException
{
    /// <summary>Creates the error.</summary>
    /// <param name="member">Payload field at fault (<c>dtype</c>, <c>shape</c>, <c>data</c>), or empty for the payload itself.</param>
    /// <param name="message">What was expected and what was given.</param>
    public TensorPayloadException(string member, string message) : base(member, message) { }
}
